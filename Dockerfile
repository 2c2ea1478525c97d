# The image compose.yaml runs: `jobgraph serve`, `jobgraph worker`, `jobgraph migrate`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The exact versions of requirements.lock, checked against their hashes (scripts/lock.sh makes it);
# a layer of its own, so a change of the code alone does not install them again.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . && useradd --create-home --uid 1000 jobgraph && mkdir /data && chown jobgraph /data
USER jobgraph
ENV JOBGRAPH_DATA_DIR=/data
EXPOSE 8000 9100
CMD ["jobgraph", "serve", "--host", "0.0.0.0"]
