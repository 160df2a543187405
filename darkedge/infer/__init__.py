"""`darkedge infer`: actions recognised in video files, folders, network streams or cameras, as JSON-lines events.

from darkedge.infer import InferConfig, run_infer
summary = run_infer(InferConfig(["gate=rtsp://cam1/s", "yard=rtsp://cam2/s"], "runs/latest/export/student_int8.xml"))
"""

from darkedge.infer.run import InferConfig, run_infer
from darkedge.infer.summary import Summary

__all__ = ["InferConfig", "Summary", "run_infer"]
