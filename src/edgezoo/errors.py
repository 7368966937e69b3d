"""Errors that reach the user as one line and exit code 2."""


class EdgezooError(Exception):
    """A problem with the user's input (file, flag, model name): printed as one line, exit code 2."""


class EngineRefused(EdgezooError):
    """An engine cannot compile or load a graph on this host: an engine's limit, not bad input.

    OpenVINO's ARM plugin, for one, refuses some int8 graphs that its x86 plugin runs (measured:
    EfficientNet-Lite0's shipped int8 on a Cortex-A55, docs/tune.md). ``tune`` counts it as one
    failed candidate and tries the others; everywhere else it is one line like any EdgezooError.
    """

    def __init__(self, message: str, engine: str, reason: str) -> None:
        super().__init__(message)
        self.engine = engine  # onnxruntime | openvino
        self.reason = reason  # the engine's own words, one line
