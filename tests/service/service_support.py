"""Sample texts and settings for the service tests (no real proposal text: the log tests make their own)."""
from __future__ import annotations

from matcher import MatcherConfig
from routing.config import RoutingSettings
from service.settings import Settings

ABSTRACT = (
    "高压实磷酸铁锂正极材料连续化制备关键技术研究。"
    "开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，压实密度≥2.6 g/cm³，建成年产2万吨LFP生产线。"
)
TITLE = "质子交换膜燃料电池电堆与膜电极开发"
OUT_OF_SCOPE = "研究鲁迅小说中的女性形象与叙事策略，分析二十世纪初中国现代文学的启蒙话语与性别书写。"
TOO_SHORT = "电池"


def make_settings(max_text_chars: int = 20_000, routing: dict | None = None, **overrides) -> Settings:
    """Settings independent of the environment the tests run in (``routing``: RoutingSettings fields)."""
    values = dict(
        matcher=MatcherConfig.from_env(max_text_chars=max_text_chars),
        routing=RoutingSettings(**(routing or {})),
        cors_origins=(),
        max_batch_items=200,
        max_body_bytes=4 * 1024 * 1024,
        api_keys=("test-key-1", "test-key-2"),
        log_level="INFO",
        ready_timeout=30.0,
        rate_limit="off",  # the tests send many requests, and wrong keys, from one address
        key_failure_limit="off",
    )
    values.update(overrides)
    return Settings(**values)
