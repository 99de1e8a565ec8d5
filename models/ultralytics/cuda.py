"""A YOLO module's forward as CUDA graphs, on streams of its own.

On CUDA the adapters only enqueue the work of a batch: the copy of its
images to the device on a copy stream, the forward as a CUDA graph on a
forward stream, the output copied out of the graph's buffers. Their
post-processing runs on a third, high-priority stream, so that the engine,
which submits batch i+1 before it collects batch i, keeps the GPU busy with
the forward of batch i+1 while the host waits on the NMS of batch i.
"""

#: the largest batch run as a CUDA graph (larger ones run eagerly)
MAX_GRAPH_BATCH = 128


class CudaGraphs:
    """The CUDA graphs of one module's forward and the streams they run on.

    A graph is captured, once, per batch size rounded up to a power of two
    (at most ``max_batch``); a smaller batch fills the first slots of its
    graph's input, and the outputs of the other slots are dropped.

    Args:
        forward: a function of a ``(B, S, S, 3)`` uint8 tensor on the
            device that returns the module's output
        image_shape: the ``(S, S, 3)`` shape of one input image
        device: the CUDA ``torch.device``
        fill (0): the value the unused slots of a graph's input hold
        max_batch (MAX_GRAPH_BATCH): the largest batch run as a graph
    """

    def __init__(
        self, forward, image_shape, device, fill=0, max_batch=MAX_GRAPH_BATCH
    ):
        self.forward = forward
        self.image_shape = tuple(image_shape)
        self.device = device
        self.fill = fill
        self.max_batch = max_batch
        self._graphs = {}
        #: per graph size, two device buffers the batches are copied to
        #: (one being filled while the other feeds a forward)
        self._staging = {}
        self._streams = None

    def streams(self):
        """Returns the ``(copy, forward, post-processing)`` CUDA streams;
        post-processing has the highest priority, so that its small kernels
        run between those of the next batch's forward.

        Returns:
            a tuple of three ``torch.cuda.Stream``
        """
        import torch

        if self._streams is None:
            self._streams = (
                torch.cuda.Stream(self.device),
                torch.cuda.Stream(self.device),
                torch.cuda.Stream(self.device, priority=-1),
            )

        return self._streams

    def clear(self):
        """Forgets the captured graphs and their buffers."""
        self._graphs.clear()
        self._staging.clear()

    def submit(self, pixels):
        """Enqueues the forward of a batch as a CUDA graph: one launch per
        batch instead of hundreds, so that the GPU does not wait on Python
        (other threads of the worker hold the GIL too), and returns without
        waiting for it.

        The images are copied from pinned memory to one of two device
        buffers on the copy stream (while the previous batch's forward
        runs), then into the graph's input on the forward stream; the
        graph's output is copied out before the next replay can overwrite
        it.

        Args:
            pixels: the batch's ``(S, S, 3)`` uint8 images (pinned CPU
                tensors or numpy arrays), at most ``max_batch``

        Returns:
            ``(output, ready)``: the batch's own output (later batches do not
            overwrite it) and the CUDA event recorded on the forward stream
            when it is ready
        """
        import torch

        n = len(pixels)
        size = min(1 << (n - 1).bit_length(), self.max_batch)
        graph = self._graphs.get(size)
        if graph is None:
            graph = self._capture(size)
            self._graphs[size] = graph

        static_input, static_output, cuda_graph = graph
        copy_stream, forward_stream, _ = self.streams()
        slots = self._staging.get(size)
        if slots is None:
            # [buffer, event: the buffer was last read] x 2, next slot
            slots = [[torch.empty_like(static_input), None] for _ in range(2)]
            slots.append(0)
            self._staging[size] = slots

        slot = slots[slots[2]]
        slots[2] = 1 - slots[2]
        staging, free = slot
        pixels = [
            p if isinstance(p, torch.Tensor) else torch.from_numpy(p)
            for p in pixels
        ]
        if free is not None:
            copy_stream.wait_event(free)

        with torch.cuda.stream(copy_stream):
            # the copies in one call: a Python loop of copies is slowed down
            # by the other threads of the worker taking the GIL between them
            torch._foreach_copy_(
                list(staging[:n].unbind(0)), pixels, non_blocking=True
            )
            copied = torch.cuda.Event()
            copied.record(copy_stream)

        forward_stream.wait_event(copied)
        with torch.cuda.stream(forward_stream):
            static_input[:n].copy_(staging[:n], non_blocking=True)
            slot[1] = torch.cuda.Event()
            slot[1].record(forward_stream)
            cuda_graph.replay()
            output = copy_rows(static_output, n)
            ready = torch.cuda.Event()
            ready.record(forward_stream)

        return output, ready

    def _capture(self, size):
        import torch

        static_input = torch.full(
            (size,) + self.image_shape,
            self.fill,
            dtype=torch.uint8,
            device=self.device,
        )

        # warm-up on a side stream (cuDNN picks its algorithms, the head
        # caches its anchors), then capture
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                self.forward(static_input)

        torch.cuda.current_stream(self.device).wait_stream(stream)
        cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(cuda_graph):
            static_output = self.forward(static_input)

        return static_input, static_output, cuda_graph


def copy_rows(output, n):
    """Copies the first ``n`` rows of a (nested tuple / list of) batch
    tensor(s), on the current stream.

    Args:
        output: a tensor, or a nested tuple / list of them (other values are
            returned as they are)
        n: the number of rows

    Returns:
        the copy, of the same structure
    """
    if isinstance(output, (tuple, list)):
        return type(output)(copy_rows(o, n) for o in output)

    if hasattr(output, "clone"):
        return _first_rows(output, n).clone()

    return output


def record_stream(output, stream):
    """Marks the tensors of an output as used on ``stream`` too, so that
    the caching allocator does not reuse their memory before the stream is
    done with them.

    Args:
        output: a tensor, or a nested tuple / list of them
        stream: a ``torch.cuda.Stream``
    """
    if isinstance(output, (tuple, list)):
        for o in output:
            record_stream(o, stream)
    elif hasattr(output, "record_stream"):
        output.record_stream(stream)


def _first_rows(output, n):
    """The first ``n`` rows of a (nested tuple / list of) batch tensor(s)."""
    if isinstance(output, (tuple, list)):
        return type(output)(_first_rows(o, n) for o in output)

    if hasattr(output, "shape") and output.shape[0] > n:
        return output[:n]

    return output
