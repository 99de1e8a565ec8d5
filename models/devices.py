"""The torch devices a setting may name: checked against this machine, so
that a device that does not exist is refused when it is set, not at every
later use."""

from ..errors import AutolabelError

#: the words that mean "no device named: the GPU if there is one"
AUTO = ("", "auto")


def check_device(device):
    """Checks a device setting against this machine.

    Args:
        device: ``None`` or ``"auto"`` (the GPU if any), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"`` or ``N`` (a CUDA device's index), or
            ``"mps"`` (Apple silicon)

    Returns:
        the device as it is kept: ``None`` for the default, else ``"cpu"``,
        ``"cuda"``, ``"cuda:N"`` or ``"mps"``

    Raises:
        AutolabelError: if it is not a device of this machine
    """
    if device is None:
        return None

    if isinstance(device, bool):
        raise _not_a_device(device)

    text = str(device).strip().lower()
    if text in AUTO:
        return None

    if text == "cpu":
        return "cpu"

    if text.isdigit():
        text = "cuda:%d" % int(text)

    import torch

    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"

        raise _not_a_device(device)

    if text == "cuda":
        if torch.cuda.is_available():
            return "cuda"

        raise _not_a_device(device)

    if text.startswith("cuda:") and text[5:].isdigit():
        if int(text[5:]) < _cuda_count():
            return "cuda:%d" % int(text[5:])

    raise _not_a_device(device)


def _cuda_count():
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _not_a_device(device):
    count = _cuda_count()
    if not count:
        has = "this machine has no CUDA device"
    elif count == 1:
        has = "this machine has one CUDA device, cuda:0"
    else:
        has = "this machine has %d CUDA devices, cuda:0 to cuda:%d" % (
            count,
            count - 1,
        )

    return AutolabelError(
        "device '%s' is not a device of this machine: use cpu, cuda or "
        "cuda:N, or auto for the GPU if any (%s)" % (device, has)
    )
