import pytest

from gateway.errors import InvalidRequest
from gateway.translate.sizes import to_ratio


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        (None, "1:1"), ("auto", "1:1"), ("1024x1024", "1:1"), ("256x256", "1:1"),
        ("1536x1024", "4:3"), ("1024x1536", "3:4"), ("1792x1024", "16:9"), ("1280x720", "16:9"),
        ("1024x1792", "9:16"), ("720x1280", "9:16"), ("16:9", "16:9"), ("3:4", "3:4"),
        ("1920*1080", "16:9"), ("720*480", "4:3"), ("1024*1024", "1:1"), ("1080x1920", "9:16"), ("800x600", "4:3"),
    ],
)
def test_sizes_map_to_upstream_ratios(size, ratio):
    assert to_ratio(size) == ratio


@pytest.mark.parametrize("size", ["big", "0x100", "1024x", "21:9x", 1024, "-5x5"])
def test_other_sizes_are_a_400_naming_size(size):
    with pytest.raises(InvalidRequest) as caught:
        to_ratio(size)
    assert caught.value.param == "size"


def test_default_applies_when_absent():
    assert to_ratio(None, default="16:9") == "16:9"
