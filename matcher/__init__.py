"""Match Chinese R&D proposals to the support directions of the 2024 China–ASEAN
Industrial Cooperation Zone special-project guide.

    from matcher import Matcher
    m = Matcher.load()
    r = m.match("一种高压实磷酸铁锂正极材料的制备方法…", top_k=5)
"""
from .config import MatcherConfig
from .errors import InputError
from .matcher import Matcher
from .results import ClusterScore, DirectionMatch, MatchResult

__all__ = ["Matcher", "MatcherConfig", "InputError", "MatchResult", "DirectionMatch", "ClusterScore"]
