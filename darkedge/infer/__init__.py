"""`darkedge infer`: actions recognised in a video file, a folder, a network stream or a camera, as JSON-lines events.

from darkedge.infer import InferConfig, run_infer
summary = run_infer(InferConfig(source="rtsp://cam/stream", model="runs/latest/export/student_int8.xml"))
"""

from darkedge.infer.run import InferConfig, Summary, run_infer

__all__ = ["InferConfig", "Summary", "run_infer"]
