"""WebSocket edge server, HTTP job API and the web page."""
