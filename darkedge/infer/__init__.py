"""`darkedge infer`: actions recognised in video files, folders, network streams or cameras, as JSON-lines events.

from darkedge.infer import InferConfig, infer_cameras
summary = infer_cameras(InferConfig(["gate=rtsp://cam1/s", "yard=rtsp://cam2/s"], "runs/latest/export/student_int8.xml"))
"""

from darkedge.infer.command import InferConfig, infer_cameras
from darkedge.infer.summary import Summary

__all__ = ["InferConfig", "Summary", "infer_cameras"]
