"""A served model in a process of its own: read its output until it listens."""


def lines_until_listening(process):
    """The lines the server process printed up to its "gRPC on ..." line (or its end)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("gRPC on"):
            break
    return lines
