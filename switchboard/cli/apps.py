"""The command tree; each module under switchboard/cli adds its commands."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="AI pipelines as stateless workers on a message bus.")
replay_app = typer.Typer(no_args_is_help=True, help="Replay recorded streams into an isolated namespace.")
app.add_typer(replay_app, name="replay")
analyst_app = typer.Typer(no_args_is_help=True, help="Analyst datasets: load, inspect, query.")
app.add_typer(analyst_app, name="analyst")
music_app = typer.Typer(
    no_args_is_help=True, help="The music pipeline, step by step; each step is a job on the bus."
)
app.add_typer(music_app, name="music")
voice_app = typer.Typer(no_args_is_help=True, help="The voice assistant's knowledge base.")
app.add_typer(voice_app, name="voice")
model_app = typer.Typer(no_args_is_help=True, help="The model server every LLM user shares (llama.cpp).")
app.add_typer(model_app, name="model")
