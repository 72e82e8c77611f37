# Qwen Gateway: a small image, run as a non-root user, its state under the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir -c requirements.lock . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /data && chown gateway /data

USER gateway
# Listen on every interface of the container; set GATEWAY_API_KEYS (the gateway warns when it is open).
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=3264 GATEWAY_STATE_URL=sqlite:////data/gateway.db
VOLUME ["/data"]
EXPOSE 3264
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3264/health', timeout=4)"]
# A config file, if any, is mounted and named: GATEWAY_CONFIG=/config/config.yaml.
CMD ["python", "-m", "gateway"]
