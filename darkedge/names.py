"""Names every part of darkedge shares, defined once: data, stages and checkpoint kinds, precisions, formats, backends.

Plain constants only (no imports), so the command line can offer them as choices without loading torch.
"""

# The built-in synthetic data set: `darkedge data synth` writes it here and `darkedge train` generates it when absent.
BUILTIN_DATA = "data/synth"

# Where `darkedge train` makes run directories, and the link to the newest one, which every later command opens
# when no --run is given.
RUNS_DIR = "runs"
DEFAULT_RUN = "runs/latest"
# The files of a run directory every part names (darkedge.run owns what is in them)
CONFIG_FILE = "config.json"  # RUN/config.json: the TrainConfig, the class names, the darkedge version
METRICS_FILE = "metrics.json"  # RUN/metrics.json: every stage's results, the teacher guard's decision
HISTORY_FILE = "history.json"  # RUN/<stage>/history.json: a stage's epochs (or the enhancer's steps)
# Where `darkedge train` fills a calibration set after a full run, and where `darkedge quantize` reads one.
CALIB_DIR = "calibration"
# The clip cache's default bound on disk, in GB (darkedge.data.cache; TrainConfig.cache_gb).
MIB = 2**20  # bytes in a MiB, the unit every size darkedge reports is in
CACHE_GB = 20.0

# The stages of `darkedge train`, in order; each writes RUN/<stage>.pt holding a checkpoint of this kind.
STAGE_KINDS = {
    "enhancer": "enhancer",
    "teacher": "teacher",
    "student": "classifier",
    "raw": "classifier",
    "two_stream": "two_stream",
    "self_train": "classifier",
}
STAGES = tuple(STAGE_KINDS)
# What `darkedge train` runs without --stage: the two-stream baseline costs as much as the teacher and the student
# together on a CPU, so it is trained on request (`--stage two_stream`); `darkedge bench` times it either way. The
# self-training control (the student's recipe with the raw baseline as its teacher: what distillation gives
# without the enhanced view) is trained on request too (`--stage self_train`, after raw). The raw baseline comes
# before the student: the teacher guard compares it with the teacher before the student learns from either.
DEFAULT_STAGES = ("enhancer", "teacher", "raw", "student")

# Checkpoint kinds. Models: what darkedge.models builds; a DTCM-style jointly trained teacher loads wherever a
# teacher does. INT8: the fake-quantized (NNCF) student `darkedge quantize` writes to RUN/<INT8_NAME>.pt.
MODEL_KINDS = ("classifier", "teacher", "dtcm", "two_stream")
TEACHER_KINDS = ("teacher", "dtcm")
INT8_KIND = "classifier_int8"
RESUME_KIND = "resume"  # an epoch checkpoint a killed training run continues from
INT8_NAME = "student_int8"

# The models that have the student's architecture and sampling (TrainConfig.student_*): the distilled student, the raw
# baseline (its no-distillation control), the self-training control and the INT8 student; the teacher and two-stream
# keep the teacher's.
STUDENT_MODELS = ("student", "raw", "self_train", INT8_NAME)
# A clip's label when it has none (unlabelled footage): it gets the teacher's soft targets only.
UNLABELED = -1
# The stages that can learn from unlabelled footage semi-supervised (TrainConfig.semi).
SEMI_STAGES = ("teacher", "raw")

# What `darkedge export --model` takes: a run's model, or the INT8 student.
EXPORT_MODELS = ("student", "teacher", "raw", "two_stream", INT8_NAME)

PRECISIONS = ("fp32", "fp16", "int8")

# How a classifier scales its input clip before the encoder: "fixed" subtracts and divides by constant mean / std
# (ImageNet's, what a pretrained encoder expects); "clip" standardises each clip by its own per-channel mean and
# std, so that a dark clip and a bright one reach the encoder at the same scale; "motion" first takes away each
# pixel's mean over the clip's frames (what stays still: the scene), then standardises what is left, so that a model
# sees what moves and cannot tell scenes apart by their furniture.
INPUT_NORMS = ("fixed", "clip", "motion")
# The splits of a data set a command can read: its training list, its test list, or both.
SPLITS = ("train", "test", "all")
# The enhancers (darkedge.enhance) by name, as a table names them; gamma correction has nothing to train.
ENHANCER_NAMES = {"zero_dce": "Zero-DCE", "zero_dce_pp": "Zero-DCE++", "gamma": "gamma correction"}
TRAINABLE_ENHANCERS = ("zero_dce", "zero_dce_pp")

# Export formats and the suffix of the file each writes (OpenVINO's .xml has its weights in a .bin beside it).
FORMAT_SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "tensorrt": ".engine"}
FORMATS = tuple(FORMAT_SUFFIXES)
OPSET = 17  # the ONNX opset of every ONNX graph darkedge writes (exports, and the enhancer for ONNX Runtime)

# Inference backends (darkedge.runtime) and the model file each loads; a file's suffix names its backend.
BACKEND_SUFFIXES = {"torch": ".pt", "onnxruntime": ".onnx", "openvino": ".xml", "tensorrt": ".engine"}
BACKENDS = tuple(BACKEND_SUFFIXES)
BACKEND_BY_SUFFIX = {suffix: backend for backend, suffix in BACKEND_SUFFIXES.items()}
# The runtimes `darkedge enhance apply` runs an enhancer on, converting it in memory (the first is the default).
ENHANCE_BACKENDS = ("openvino", "onnxruntime", "torch")
