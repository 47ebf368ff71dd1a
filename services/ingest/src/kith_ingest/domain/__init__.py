"""Pure normalization: from what producers send to the one clean event stream."""

from kith_ingest.domain.normalize import NormalizeConfig, normalize_event, normalize_raw, prepare, text_features
from kith_ingest.domain.text import clean_text

__all__ = ["NormalizeConfig", "clean_text", "normalize_event", "normalize_raw", "prepare", "text_features"]
