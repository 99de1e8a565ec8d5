"""``autolabel models``, ``models add`` and ``models download``: the model
catalog."""

import json

from ..models import registry as mr
from ..models.catalog import METHOD_VLM, VLM_TASKS, is_vlm, shows_examples
from .common import add_command, add_json

TASKS = ("classification", "detection", "instance_segmentation")


def register(subparsers, common):
    """Adds the catalog commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "models",
        "list the model catalog",
        _models,
        dataset=False,
    )
    p.add_argument(
        "--task",
        choices=TASKS + tuple(t for t in VLM_TASKS if t not in TASKS),
        help="only the models that do this task (default: every task)",
    )
    kind = p.add_mutually_exclusive_group()
    kind.add_argument(
        "--zero-shot",
        action="store_true",
        help="only zero-shot models, which label the classes you name "
        "(default: both kinds)",
    )
    kind.add_argument(
        "--fixed",
        action="store_true",
        help="only models with a fixed vocabulary (default: both kinds)",
    )
    kind.add_argument(
        "--vlm",
        action="store_true",
        help="only vision-language models, which label from a prompt with "
        "generate --method vlm (default: every kind)",
    )
    add_json(p, "the models", "a table")

    models_sub = p.add_subparsers(
        dest="models_command", metavar="{add,download}"
    )
    m = add_command(
        models_sub,
        common,
        "add",
        "register your own ultralytics checkpoint or transformers model",
        _add,
        dataset=False,
    )
    m.add_argument(
        "name",
        help="a name for the model: letters, digits, '.', '_' and '-'",
    )
    m.add_argument(
        "--path",
        required=True,
        help="an ultralytics .pt checkpoint or a transformers model "
        "directory; its task and classes are read from it (required)",
    )
    m.add_argument(
        "--replace",
        action="store_true",
        help="replace a model of yours with the same name (default: refuse; "
        "built-in models are never replaced)",
    )
    m.add_argument(
        "--trust",
        action="store_true",
        help="the file is from a source you trust: read it even if that runs "
        "code stored in it (default: refuse a checkpoint that cannot be read "
        "without running its code)",
    )
    m.epilog = (
        "A .pt checkpoint is a Python pickle: loading it runs whatever code "
        "is embedded in it. autolabel reads checkpoints with ultralytics' "
        "restricted reader (and transformers models from safetensors), "
        "which runs none; a file that cannot be read so is refused unless "
        "you pass --trust. Only trust files from sources you trust. The "
        "file's SHA-256 is recorded, and a model whose file changed since it "
        "was added is not loaded."
    )

    m = add_command(
        models_sub,
        common,
        "download",
        "fetch a model's weights (needs internet access)",
        _download,
        dataset=False,
    )
    m.add_argument(
        "name", help="the model's catalog name, see `autolabel models`"
    )


def _models(args, dataset=None):
    zero_shot = True if args.zero_shot else False if args.fixed else None
    # the tasks only vision-language models do, and --vlm, list those
    vlm = args.vlm or args.task in set(VLM_TASKS) - set(TASKS)
    if vlm and args.task is None:
        entries = [e for e in mr.list_models() if is_vlm(e)]
    else:
        entries = mr.list_models(
            task=args.task,
            method=METHOD_VLM if vlm else None,
            zero_shot=zero_shot,
        )
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return

    row = "%-24s %-15s %-16s %-5s %-5s %-4s %-12s %s"
    print(
        row
        % ("name", "tasks", "prompted with", "conf", "speed", "perf",
           "license", "weights")
    )
    for e in entries:
        print(
            row
            % (
                e.name,
                ",".join(_TASK_ABBREVIATIONS.get(t, t) for t in e.tasks),
                _prompts(e),
                e.default_confidence,
                e.speed,
                e.performance,
                e.license or "-",
                _weights(e),
            )
        )


#: the tasks as the table of models abbreviates them
_TASK_ABBREVIATIONS = {
    "classification": "cls",
    "detection": "det",
    "instance_segmentation": "seg",
    "box_segmentation": "box-seg",
    "caption": "cap",
    "region_classification": "reg-cls",
    "region_caption": "reg-cap",
}


def _prompts(entry):
    if is_vlm(entry):
        return "prompt, examples" if shows_examples(entry) else "prompt"

    if not entry.zero_shot:
        return "- (fixed)"

    if "positive" in entry.exemplar_prompts:
        return "names, examples"

    if "box_segmentation" in entry.tasks:
        return "boxes"

    return "names"


def _weights(entry):
    if mr.has_weights(entry):
        return "present"

    if entry.custom:
        return "missing"

    return "fetched on use%s" % (
        " (~%g MB)" % entry.download_mb if entry.download_mb else ""
    )


def _add(args, dataset=None):
    entry = mr.register_model(
        args.name, args.path, replace=args.replace, trust=args.trust
    )
    print(
        "registered model '%s' (%s; %s%s)"
        % (
            entry.name,
            ",".join(entry.tasks),
            (
                "%d classes" % len(entry.vocabulary)
                if entry.vocabulary
                else "zero-shot"
            ),
            "; trusted: loading it runs code stored in it"
            if entry.trusted
            else "",
        )
    )


def _download(args, dataset=None):
    path = mr.download_weights(mr.get_model(args.name))
    print("weights of '%s' are at %s" % (args.name, path))
