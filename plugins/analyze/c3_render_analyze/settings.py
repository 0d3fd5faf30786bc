"""The environment variables of the analyze task, declared for the core's table and read
at call time: the local engines' C3_ANALYZE_*, the vision model's VISION_*, and
ANALYZE_WORKLOAD.
"""

from pathlib import Path

from render_core.plugin import Setting, SettingsError, between, existing_file, http_url

from .errors import EngineSetupError

MAX_MEGAPIXELS = Setting("C3_ANALYZE_MAX_MEGAPIXELS", 40.0, "refuse images larger than this", unit="MP",
                         check=between(0.01, 10_000))
OCR_MIN_CONFIDENCE = Setting("C3_ANALYZE_OCR_MIN_CONFIDENCE", 0.8, "report OCR lines at or above this "
                             "confidence (0-1)", check=between(0, 1))
FACE_CASCADE = Setting("C3_ANALYZE_FACE_CASCADE", None, "Haar cascade XML of the face detector", type=Path,
                       check=existing_file, shown_default="OpenCV's frontal face")
OCR_DET_MODEL = Setting("C3_ANALYZE_OCR_DET_MODEL", None, "RapidOCR detection ONNX model", type=Path,
                        check=existing_file, shown_default="the packaged one")
OCR_REC_MODEL = Setting("C3_ANALYZE_OCR_REC_MODEL", None, "RapidOCR recognition ONNX model", type=Path,
                        check=existing_file, shown_default="the packaged one")
OCR_CLS_MODEL = Setting("C3_ANALYZE_OCR_CLS_MODEL", None, "RapidOCR angle-classifier ONNX model", type=Path,
                        check=existing_file, shown_default="the packaged one")
OCR_REC_KEYS = Setting("C3_ANALYZE_OCR_REC_KEYS", None, "character list of a recognition model without one "
                       "inside", type=Path, check=existing_file)

DEFAULT_VISION_PROMPT = ("Describe this image in detail: the main subjects, the setting, the colours, "
                         "any visible text, and anything unusual.")
VISION_URL = Setting("VISION_URL", "", "base URL of a separate vision endpoint, used even without a GPU lease",
                     check=http_url, shown_default="the leased node's vision service")
VISION_PROTOCOL = Setting("VISION_PROTOCOL", "ollama", "API of the vision endpoint",
                          choices=("ollama", "openai"))
VISION_MODEL = Setting("VISION_MODEL", "llama3.2-vision:11b", "vision model name")
VISION_API_KEY = Setting("VISION_API_KEY", "", "sent as Authorization: Bearer (default: the node's key)",
                         secret=True)
VISION_PROMPT = Setting("VISION_PROMPT", DEFAULT_VISION_PROMPT, "prompt used when a request gives none",
                        shown_default="a request for a detailed description")
VISION_TIMEOUT = Setting("VISION_TIMEOUT", 300.0, "time one vision request may wait for the answer", unit="s",
                         check=lambda value: None if 0 < value <= 7200 else "must be above 0 and at most 7200")
WORKLOAD = Setting("ANALYZE_WORKLOAD", "", "GPU workload type to lease for analyze (e.g. ollama_webui:fast)",
                   shown_default="none: no lease")

ENGINE_SETTINGS = (MAX_MEGAPIXELS, OCR_MIN_CONFIDENCE, FACE_CASCADE, OCR_DET_MODEL, OCR_REC_MODEL, OCR_CLS_MODEL,
                   OCR_REC_KEYS)
VISION_SETTINGS = (VISION_URL, VISION_PROTOCOL, VISION_MODEL, VISION_API_KEY, VISION_PROMPT, VISION_TIMEOUT)
SETTINGS = (*ENGINE_SETTINGS, *VISION_SETTINGS, WORKLOAD)


def engine_setting(setting: Setting):
    """The value of a local-engine variable; EngineSetupError names a bad one."""
    try:
        return setting.read()
    except SettingsError as exc:
        raise EngineSetupError(str(exc)) from None

