# The aggregator: `blindsum serve` as an unprivileged user, data in a volume.
# Run with PostgreSQL and real secrets as docs/operations.md describes.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BLINDSUM_DATA_DIR=/data \
    BLINDSUM_HOST=0.0.0.0 \
    BLINDSUM_PORT=8000

WORKDIR /app
COPY . /app/blindsum-src
# The server needs the core and CKKS (key custody); the training extras stay on the clients.
RUN pip install --no-cache-dir '/app/blindsum-src[ckks]' \
    && useradd --create-home --uid 10001 blindsum \
    && mkdir -p /data && chown 10001 /data

USER 10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["blindsum"]
CMD ["serve"]
