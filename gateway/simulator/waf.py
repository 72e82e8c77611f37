"""The Alibaba Cloud WAF slider-captcha page (§10), served as HTTP 200 text/html.

Real pages are ~16 KB of minified HTML and obfuscated script; what clients key
on is `<!doctypehtml>` and the `aliyun_waf_aa` marker, so the filler here is
only there to make the body look and weigh like the real one.
"""

from __future__ import annotations

import hashlib

from starlette.responses import Response

_HEAD = (
    '<!doctypehtml><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    "<title>Verification</title>"
    "<style>#aliyun_waf_aa{position:fixed;top:0;left:0;width:100%;height:100%;background:#fff}"
    ".nc-container{margin:120px auto;width:300px}</style></head><body>"
    '<div id="aliyun_waf_aa"><div class="nc-container"><div id="nc"></div>'
    "<p>Slide to verify / 请拖动滑块完成验证</p></div></div>"
)
_TAIL = "</body></html>"


def _obfuscated_script(request_id: str, size: int) -> str:
    """Deterministic pseudo-obfuscated JS of about `size` characters."""
    chunks: list[str] = []
    seed = request_id.encode()
    total = 0
    index = 0
    while total < size:
        digest = hashlib.sha256(seed + index.to_bytes(4, "big")).hexdigest()
        piece = f"var _0x{digest[:6]}='{digest}';"
        chunks.append(piece)
        total += len(piece)
        index += 1
    return (
        '<script>var aliyun_waf_aa_config={"renderTo":"#nc","appkey":"CF_APP_WAF",'
        f'"scene":"register","token":"{request_id}"}};' + "".join(chunks) + "</script>"
    )


def waf_page(request_id: str, size: int = 15000) -> Response:
    html = _HEAD + _obfuscated_script(request_id, size) + _TAIL
    return Response(html, status_code=200, media_type="text/html; charset=utf-8")
