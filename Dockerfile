# Central Hub as a container: the wheel built from this tree on a slim Python, run as a user
# without privileges. Build: docker build -t centralhub .   Run: see compose.yaml.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
# the exact dependency versions of uv.lock, then the hub's own wheel
RUN uv export --frozen --no-dev --no-hashes --no-emit-project -o /tmp/requirements.txt \
 && uv build --wheel --out-dir /dist

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CENTRAL_HUB_HOST=0.0.0.0 \
    CENTRAL_HUB_PORT=7000 \
    DATABASE_URL=sqlite:////var/lib/centralhub/centralhub.db
COPY --from=build /tmp/requirements.txt /dist/*.whl /tmp/wheel/
RUN pip install -r /tmp/wheel/requirements.txt /tmp/wheel/*.whl && rm -rf /tmp/wheel \
 && useradd --system --home-dir /var/lib/centralhub --create-home --uid 10001 centralhub
USER centralhub
WORKDIR /var/lib/centralhub
EXPOSE 7000
# /health answers 200 while the database answers (503 otherwise); urllib needs no extra package
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:7000/health', timeout=2).status != 200)"
# SIGTERM drains held requests and stops the hub cleanly (exit 0)
STOPSIGNAL SIGTERM
CMD ["centralhub", "serve"]
