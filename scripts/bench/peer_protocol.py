"""The JSON-lines loop every Python bench peer runs: one request per line on stdin, one answer per line on
`protocol` (stdout); the first line sent is `info` ({"ready": true, ...}). `handlers` maps a command name
to a function of the request returning the answer; "info" and "quit" are built in. Errors answer
{"error": "..."} and the loop goes on (the Node side fails the bench)."""
import json
import sys


def serve(info, handlers, protocol=sys.stdout):
    def send(obj):
        protocol.write(json.dumps(obj) + "\n")
        protocol.flush()

    send(info)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            cmd = request.get("cmd")
            if cmd == "info":
                send(info)
            elif cmd == "quit":
                send({"bye": True})
                return 0
            elif cmd in handlers:
                send(handlers[cmd](request))
            else:
                send({"error": f"unknown command {cmd!r}"})
        except Exception as error:  # noqa: BLE001 - reported to the caller, which fails the bench
            send({"error": f"{type(error).__name__}: {error}"})
    return 0
