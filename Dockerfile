# The image compose.yaml runs: `jobgraph serve`, `jobgraph worker`, `jobgraph migrate`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --create-home --uid 1000 jobgraph && mkdir /data && chown jobgraph /data
USER jobgraph
ENV JOBGRAPH_DATA_DIR=/data
EXPOSE 8000 9100
CMD ["jobgraph", "serve", "--host", "0.0.0.0"]
