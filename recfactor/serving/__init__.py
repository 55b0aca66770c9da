"""`recfactor serve`: a saved model answering over HTTP.

``answers`` turns one request's parameters into a JSON-ready answer from a loaded model (the
same engine calls as `predict`, `recommend` and `similar`); ``slot`` holds the model being
served and swaps in a new one when its file changes; ``metrics`` counts requests and their
latency; ``http`` is the server (the standard library's, one thread a connection); ``workers``
runs several server processes on one socket. Nothing here is imported by the other commands.
"""
