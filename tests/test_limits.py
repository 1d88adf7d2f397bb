"""Issue 5 §3: resource limits. Input size, alias bombs and cycles, 50,000-deep nesting (flow and block),
many documents: each ends fast with a clear error (or passes through), never a crash, hang or memory blow-up.

Inputs that could crash or exhaust the interpreter run in a subprocess with a 1.5 GB address-space cap and a
timeout (strategies.run_cli), so a regression fails the test instead of taking pytest down.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kinject.errors import InputError
from kinject.limits import _depth_bound, _exact_depth, check_input, check_nodes, safe_load
from strategies import (assert_clean_failure, deployment, dump, dump_all, fuzz_settings, load, namespace,
                        resource_list, run_cli, run_inproc, sidecar_injector)

MEM = 1536
FAST = 10.0  # seconds: generous for a loaded CI machine; the real figures are well under a second

ENABLED_NS = namespace("apps", {"istio-injection": "enabled"})


def billion_laughs(levels: int = 9, width: int = 10, indent: str = "  ") -> str:
    """The classic bomb: `levels` x `width` alias uses (90 < the default maxAliases of 100) expand to 10^9."""
    lines = [f"{indent}a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def bomb_configmap(levels: int = 9, width: int = 10) -> str:
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  namespace: apps\nbinaryData: {}\n"
            "data:\n  x: y\nlol:\n" + billion_laughs(levels, width))


def bomb_workload() -> str:
    """The bomb where the engine reads: an annotation value of an injected pod (str() of it would expand)."""
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\n"
        "x-bomb:\n" + billion_laughs() +
        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n"
        "      labels: {app: web, sidecar.istio.io/inject: 'true'}\n"
        "      annotations: {example.com/lol: *a8}\n"
        "    spec:\n      containers: [{name: app, image: nginx}]\n"
    )


def as_resource_list(stream: str) -> str:
    """A YAML stream as a ResourceList, by text (so anchors and aliases survive as written)."""
    docs, current = [], []
    for line in stream.splitlines():
        if line.strip() == "---":
            docs.append(current)
            current = []
        else:
            current.append(line)
    docs.append(current)
    items = ""
    for doc in (d for d in docs if any(x.strip() for x in d)):
        body = "".join("  " + line + "\n" if line else "\n" for line in doc)
        items += "- " + body[2:]
    return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + items


# ------------------------------------------------------------------------------------------- size


def test_max_input_bytes_from_the_function_config_fn() -> None:
    objects = [ENABLED_NS, deployment(annotations={"pad": "x" * 5000})]
    config = sidecar_injector({"limits": {"maxInputBytes": 2000}})
    run = run_inproc(["fn"], dump(resource_list(objects, config)))
    assert_clean_failure(run, "maxInputBytes")
    out = load(run.stdout)
    assert out["items"] == objects, "nothing changed"
    assert [r["severity"] for r in out["results"]] == ["error"]
    assert "maxInputBytes" in out["results"][0]["message"]


def test_max_input_bytes_from_the_config_file_inject(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {"maxInputBytes": 2000}})))
    run = run_inproc(["inject", f"--config={config}", "-"],
                     dump_all([ENABLED_NS, deployment(annotations={"pad": "x" * 5000})]))
    assert_clean_failure(run, "maxInputBytes")
    assert run.stdout == ""


def test_max_input_bytes_counts_utf8_bytes_not_characters() -> None:
    text = "a: " + "é" * 600 + "\n"  # 604 characters, 1204 bytes
    check_input(text, {"maxInputBytes": 1300})
    with pytest.raises(InputError, match="1204 bytes"):
        check_input(text, {"maxInputBytes": 1000})


def test_default_size_limit_applies_before_parsing(monkeypatch) -> None:
    """The default (256 MiB) is checked on the raw text, before libyaml sees it."""
    import kinject.config

    monkeypatch.setitem(kinject.config.DEFAULT_LIMITS, "maxInputBytes", 10_000)
    run = run_inproc(["fn"], dump(resource_list([ENABLED_NS, deployment(annotations={"p": "x" * 20_000})])))
    assert_clean_failure(run, "maxInputBytes")
    run = run_inproc(["inject", "-"], "a: [" * 1 + "x" * 20_000 + "]\n")
    assert_clean_failure(run, "maxInputBytes")


def test_an_invalid_limits_section_is_a_config_error_with_its_path() -> None:
    for limits, path in (({"maxInputBytes": "big"}, "spec.limits.maxInputBytes"),
                         ({"maxDepth": -1}, "spec.limits.maxDepth"),
                         ({"maxNodes": 5}, "spec.limits")):
        run = run_inproc(["fn"], dump(resource_list([ENABLED_NS], sidecar_injector({"limits": limits}))))
        assert_clean_failure(run, path)


# ------------------------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("mode", ["fn", "inject"])
@pytest.mark.parametrize("where", ["configmap", "workload"])
def test_billion_laughs_is_refused_fast(mode: str, where: str) -> None:
    stream = bomb_configmap() if where == "configmap" else bomb_workload()
    text = as_resource_list(stream) if mode == "fn" else stream
    run = run_cli([mode] if mode == "fn" else ["inject", "-"], text, timeout=60, memory_mb=MEM)
    assert_clean_failure(run, "alias")
    assert run.seconds < FAST, run.seconds


def test_fn_writes_a_resource_list_with_the_alias_error() -> None:
    run = run_cli(["fn"], as_resource_list(bomb_configmap()), timeout=60, memory_mb=MEM)
    assert_clean_failure(run, "alias")
    out = load(run.stdout)
    assert out["results"][0]["severity"] == "error"


def test_many_alias_uses_are_refused_past_max_aliases() -> None:
    stream = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: &x v\ny: [" + ", ".join(["*x"] * 500) + "]\n"
    run = run_inproc(["inject", "-"], stream)
    assert_clean_failure(run, "maxAliases")


def _aliases_stream(uses: int) -> str:
    return (dump(ENABLED_NS) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: &x v\ny: ["
            + ", ".join(["*x"] * uses) + "]\n")


def _with_config(stream: str, limits: dict) -> str:
    return as_resource_list(stream) + "functionConfig:\n" + "".join(
        "  " + line + "\n" for line in dump(sidecar_injector({"limits": limits})).splitlines())


def test_max_aliases_from_the_config_file_can_raise_and_lower(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {"maxAliases": 600}})))
    assert run_inproc(["inject", f"--config={config}", "-"], _aliases_stream(500)).code == 0
    config.write_text(dump(sidecar_injector({"limits": {"maxAliases": 10}})))
    assert_clean_failure(run_inproc(["inject", f"--config={config}", "-"], _aliases_stream(50)), "maxAliases")


def test_fn_config_can_only_tighten_the_limits() -> None:
    """In `fn` the whole ResourceList is checked with the defaults before its functionConfig is read."""
    assert run_inproc(["fn"], _with_config(_aliases_stream(50), {})).code == 0
    assert_clean_failure(run_inproc(["fn"], _with_config(_aliases_stream(50), {"maxAliases": 10})), "maxAliases")
    assert_clean_failure(run_inproc(["fn"], _with_config(_aliases_stream(500), {"maxAliases": 1000})),
                         "maxAliases")


@pytest.mark.parametrize("key,value", [("maxInputBytes", 1 << 40), ("maxDepth", 100_000),
                                       ("maxAliases", 10**9)])
def test_a_config_cannot_switch_the_protections_off(tmp_path, key: str, value: int) -> None:
    """The config lives in the same untrusted repository: limits above the ceilings are refused."""
    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {key: value}})))
    run = run_inproc(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS, deployment()]))
    assert_clean_failure(run, f"spec.limits.{key}", "ceiling")
    run = run_inproc(["fn"], dump(resource_list([ENABLED_NS, deployment()],
                                                sidecar_injector({"limits": {key: value}}))))
    assert_clean_failure(run, f"spec.limits.{key}", "ceiling")


@pytest.mark.parametrize("cycle", ["&a [*a]", "&a {k: *a}", "&a [[x, [*a]]]", "&a\n  k: [*a]"])
def test_recursive_aliases_are_refused(cycle: str) -> None:
    stream = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\nx: {cycle}\n"
    run = run_cli(["inject", "-"], stream, timeout=60, memory_mb=MEM)
    assert_clean_failure(run, "recursive")


def test_anchors_in_ordinary_manifests_still_work() -> None:
    stream = """apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: &labels {app: web}
    spec:
      containers:
      - name: a
        image: nginx
        env: &env
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - name: b
        image: nginx
        env: *env
      - name: c
        image: nginx
        env: *env
"""
    run = run_inproc(["inject", "-"], stream)
    assert run.code == 0, run.stderr
    assert "istio-proxy" in run.stdout


@pytest.mark.parametrize("text", [
    '{"a": &x [1], "b":*x}',  # JSON-style key: the alias follows the colon directly
    "a: &x [1]\nb:\t*x\n",
    "a: &x [1]\nb: [0,*x]\n",
    "a: &x [1]\nb: {k: [*x]}\n",
])
def test_the_alias_prefilter_is_not_fooled(text: str) -> None:
    node = yaml.compose(text, Loader=yaml.CSafeLoader)
    with pytest.raises(InputError, match="maxAliases"):
        check_nodes(node, {"maxAliases": 0}, text)


# ------------------------------------------------------------------------------------------- nesting

DEEP = 50_000


def deep_inputs() -> dict[str, str]:
    return {
        "flow-seq": "[" * DEEP + "]" * DEEP + "\n",
        "flow-map": "{a: " * DEEP + "x" + "}" * DEEP + "\n",
        "flow-unclosed": "[" * DEEP + "\n",
        "block-compact-seq": "- " * DEEP + "x\n",
        "block-complex-keys": "? " * DEEP + "x\n",
        "block-indented-map": "".join(" " * i + "a:\n" for i in range(3000)) + " " * 3000 + "x\n",
        "block-in-object": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx:\n  " + "- " * DEEP + "x\n"),
        "flow-in-object": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: " + "[" * DEEP + "]" * DEEP
                           + "\n"),
        "mixed": "a:\n  - " + "[{b: " * (DEEP // 2) + "x" + "}]" * (DEEP // 2) + "\n",
    }


DEEP_CASES = [(name, "inject") for name in deep_inputs()] + [
    ("flow-seq", "fn"), ("block-compact-seq", "fn"), ("block-indented-map", "fn")]


@pytest.mark.parametrize("name,mode", DEEP_CASES)
def test_deep_nesting_never_crashes(name: str, mode: str) -> None:
    text = deep_inputs()[name]
    # kinject's own text bound must send every one of them to the exact measurement, whatever libyaml's
    # version (0.2.6 has a nesting limit of its own; older ones segfault in the composer)
    assert _depth_bound(text) > 200
    if mode == "fn":
        text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- x: " + text.replace("\n", "\n  ")
    run = run_cli([mode] if mode == "fn" else ["inject", "-"], text, timeout=60, memory_mb=MEM)
    assert run.code == 1, f"exit {run.code} (negative: killed by a signal)\n{run.stderr[-2000:]}"
    assert_clean_failure(run)
    assert any(w in run.stderr for w in ("maxDepth", "nesting depth", "invalid YAML")), run.stderr[:500]
    assert run.seconds < FAST, run.seconds


@pytest.mark.parametrize("depth", [100, 190])
def test_nesting_below_the_limit_passes_through_unchanged(depth: int) -> None:
    stream = ("apiVersion: example.com/v1\nkind: Deep\nmetadata: {name: a}\nspec: " + "[" * depth + "1"
              + "]" * depth + "\n")
    run = run_inproc(["inject", "-"], dump_all([ENABLED_NS]) + "---\n" + stream)
    assert run.code == 0, run.stderr
    assert run.stdout.endswith(stream)


def test_max_depth_is_configurable(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {"maxDepth": 12}})))
    stream = dump_all([ENABLED_NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                                    "x": [[[[[[[[[[[["deep"]]]]]]]]]]]]}])
    assert_clean_failure(run_inproc(["inject", f"--config={config}", "-"], stream), "maxDepth")


@pytest.mark.parametrize("depth", [150, 250, 900])
def test_deep_block_sequences_on_one_line_are_measured(depth: int) -> None:
    """`- - - x` nests without any indentation: the text bound must still cover it (it did not: issue 5)."""
    text = "x:\n  " + "- " * depth + "y\n"
    assert _depth_bound(text) >= depth + 1
    if depth > 200:
        with pytest.raises(InputError, match="maxDepth"):
            check_input(text, None)
    else:
        check_input(text, None)


def _styles(data, style: str) -> str:
    if style == "block":
        return yaml.safe_dump(data, default_flow_style=False)
    if style == "flow":
        return yaml.safe_dump(data, default_flow_style=True)
    if style == "mixed":
        return yaml.safe_dump(data, default_flow_style=None)
    # compact: libyaml's own emitter with indentless sequences
    return yaml.safe_dump(data, default_flow_style=False, indent=2).replace("  - ", "- ")


nested = st.recursive(
    st.one_of(st.integers(0, 9), st.text("ab: -?#[]{}", max_size=4)),
    lambda children: st.one_of(st.lists(children, min_size=1, max_size=3),
                               st.dictionaries(st.text("abc", min_size=1, max_size=3), children,
                                               min_size=1, max_size=3)),
    max_leaves=40,
)


@given(data=nested, style=st.sampled_from(["block", "flow", "mixed", "compact"]))
@fuzz_settings(150)
def test_the_depth_bound_is_an_upper_bound(data, style: str) -> None:
    text = _styles(data, style)
    try:
        exact = _exact_depth(text, 10_000)
        yaml.safe_load(text)
    except yaml.YAMLError:
        return
    assert _depth_bound(text) >= exact, text


# ------------------------------------------------------------------------------------------- documents


def test_many_documents_pass_through_unchanged() -> None:
    docs = [ENABLED_NS] + [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"},
                            "data": {"k": str(i)}} for i in range(20_000)]
    stream = dump_all(docs)
    run = run_cli(["inject", "-"], stream, timeout=120, memory_mb=MEM * 2)
    assert run.code == 0, run.stderr[-2000:]
    assert run.stdout == stream
    assert run.seconds < 30, run.seconds


def test_only_empty_documents_is_an_error_not_empty_output() -> None:
    run = run_cli(["inject", "-"], "---\n" * 100_000, timeout=60, memory_mb=MEM)
    assert_clean_failure(run)
    assert run.seconds < FAST


# ------------------------------------------------------------------------------------------- YAML inside the input


def test_safe_load_applies_the_limits_to_embedded_yaml() -> None:
    assert safe_load("a: [1, {b: c}]", "x") == {"a": [1, {"b": "c"}]}
    with pytest.raises(InputError, match="^ann: .*alias"):
        safe_load("lol:\n" + billion_laughs(), "ann")
    with pytest.raises(InputError, match="^ann: .*recursive"):
        safe_load("&a [*a]", "ann")
    with pytest.raises(InputError, match="^ann: "):
        safe_load("[" * DEEP, "ann")
    with pytest.raises(InputError, match="^ann: .*one YAML document"):
        safe_load("a: 1\n---\nb: 2\n", "ann")
    with pytest.raises(InputError, match="^ann: invalid YAML at line 2, column 1"):
        safe_load("a: [", "ann")
    with pytest.raises(InputError, match="^ann: "):
        safe_load("!!python/object/apply:os.system ['true']", "ann")


def test_alias_bomb_in_the_proxy_config_annotation() -> None:
    bomb = "proxyMetadata:\n" + billion_laughs(levels=8)
    objects = [ENABLED_NS, deployment(annotations={"proxy.istio.io/config": bomb})]
    run = run_cli(["fn"], dump(resource_list(objects)), timeout=3, memory_mb=1024)
    assert_clean_failure(run, "proxy.istio.io/config")


def test_alias_bomb_in_the_mesh_configmap() -> None:
    mesh = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
            "data": {"mesh": "defaultConfig:\n  proxyMetadata: {}\nx:\n" + billion_laughs(levels=8)}}
    objects = [ENABLED_NS, mesh, deployment()]
    run = run_cli(["fn"], dump(resource_list(objects)), timeout=3, memory_mb=1024)
    assert_clean_failure(run, "mesh")


CONFIG_HEAD = "apiVersion: kinject.dev/v1alpha1\nkind: SidecarInjector\nspec:\n  values:\n    x:\n"


def test_alias_bomb_in_the_config_file(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG_HEAD + billion_laughs(8, 10, "      "))
    run = run_cli(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS, deployment()]), timeout=5,
                  memory_mb=1024)
    assert_clean_failure(run, "c.yaml", "alias")


def test_recursive_alias_in_the_config_file(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG_HEAD.replace("    x:\n", "    x: &a [*a]\n"))
    run = run_cli(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS, deployment()]), timeout=20)
    assert_clean_failure(run, "c.yaml", "recursive")


def test_deep_nesting_in_the_config_file(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG_HEAD.replace("    x:\n", "    x: " + "[" * DEEP + "]" * DEEP + "\n"))
    run = run_cli(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS, deployment()]), timeout=20)
    assert_clean_failure(run, "c.yaml")


def test_alias_bomb_in_the_function_config_fn() -> None:
    text = (as_resource_list(dump(ENABLED_NS)) + "functionConfig:\n" + "".join(
        "  " + line + "\n" for line in (CONFIG_HEAD + billion_laughs(8, 10, "      ")).splitlines()))
    run = run_cli(["fn"], text, timeout=20, memory_mb=MEM)
    assert_clean_failure(run, "alias")


def test_an_oversized_file_is_refused_without_reading_it(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {"maxInputBytes": 1 << 20}})))
    big = tmp_path / "big.yaml"
    with big.open("w") as fh:
        fh.write(dump(ENABLED_NS))
        fh.write("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  k: ")
        fh.write("x" * (80 << 20))
        fh.write("\n")
    baseline = run_cli(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS]), timeout=60)
    run = run_cli(["inject", f"--config={config}", str(big)], timeout=60, memory_mb=MEM)
    assert_clean_failure(run, "maxInputBytes")
    assert run.max_rss_mb < baseline.max_rss_mb + 20, (run.max_rss_mb, baseline.max_rss_mb)


def test_operator_environment_sets_defaults_and_ceilings(tmp_path, monkeypatch) -> None:
    """KINJECT_LIMIT_* (the renderer's environment, not the repository) lower the defaults and cap configs."""
    stream = dump_all([ENABLED_NS, deployment(annotations={"pad": "x" * 5000})])
    monkeypatch.setenv("KINJECT_LIMIT_MAX_INPUT_BYTES", "2000")
    assert_clean_failure(run_inproc(["inject", "-"], stream), "maxInputBytes")
    assert_clean_failure(run_inproc(["fn"], stream), "maxInputBytes")
    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {"maxInputBytes": 100_000}})))
    assert_clean_failure(run_inproc(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS])),
                         "KINJECT_LIMIT_MAX_INPUT_BYTES")
    config.write_text(dump(sidecar_injector({"defaultNamespace": "apps"})))  # no limits: the operator's apply
    assert run_inproc(["inject", f"--config={config}", "-"], dump_all([ENABLED_NS])).code == 0
    assert_clean_failure(run_inproc(["inject", f"--config={config}", "-"], stream), "maxInputBytes")
    monkeypatch.setenv("KINJECT_LIMIT_MAX_INPUT_BYTES", "lots")
    assert_clean_failure(run_inproc(["inject", "-"], stream), "KINJECT_LIMIT_MAX_INPUT_BYTES")
    monkeypatch.delenv("KINJECT_LIMIT_MAX_INPUT_BYTES")
    monkeypatch.setenv("KINJECT_LIMIT_MAX_DEPTH", "5")
    deep = dump_all([ENABLED_NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                                  "x": [[[[[["deep"]]]]]]}])
    assert_clean_failure(run_inproc(["inject", "-"], deep), "maxDepth")


def test_read_limited_stops_after_the_limit() -> None:
    import io

    from kinject.limits import read_limited

    class Counting(io.BytesIO):
        asked = 0

        def read(self, n=-1):
            Counting.asked = n
            return super().read(n)

    assert read_limited(Counting(b"a" * 100), "stdin", {"maxInputBytes": 100}) == b"a" * 100
    with pytest.raises(InputError, match="^stdin: input is more than 100 bytes"):
        read_limited(Counting(b"a" * 10_000), "stdin", {"maxInputBytes": 100})
    assert Counting.asked == 101


def test_read_limited_reads_in_bounded_chunks() -> None:
    """A pipe delivers any amount per read; the whole input comes back, and no single read asks for the
    limit (256 MiB by default) as one buffer."""
    import io

    from kinject.limits import read_limited

    class Trickle(io.BytesIO):
        asked: list[int] = []

        def read(self, n=-1):
            Trickle.asked.append(n)
            return super().read(min(n, 300_000))  # a short read, as a pipe gives

    data = bytes(range(256)) * 20_000  # 5 MB
    assert read_limited(Trickle(data), "stdin") == data
    assert max(Trickle.asked) <= 1 << 20
    Trickle.asked = []
    with pytest.raises(InputError, match="more than 4999999 bytes"):
        read_limited(Trickle(data), "stdin", {"maxInputBytes": 4_999_999})


def test_nesting_just_below_the_ceiling_is_injected_and_rewritten(tmp_path) -> None:
    """The maxDepth ceiling (250) must stay below what kinject's Python code can walk and dump: a JSON Pod
    (rewritten as a whole) nesting 245 levels deep is injected without a RecursionError."""
    import json

    config = tmp_path / "c.yaml"
    config.write_text(dump(sidecar_injector({"limits": {"maxDepth": 250}})))
    value: object = "x"
    for _ in range(243):
        value = [value]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "apps", "labels": {"sidecar.istio.io/inject": "true"}},
           "spec": {"containers": [{"name": "a", "image": "x", "args": value}]}}
    stream = dump(namespace("apps")) + "---\n" + json.dumps(pod) + "\n"
    run = run_cli(["inject", f"--config={config}", "-"], stream, timeout=60)
    assert run.code == 0, run.stderr[-2000:]
    assert "istio-proxy" in run.stdout


def test_aliases_across_resource_list_items_are_resolved_or_refused() -> None:
    """Anchors are per YAML document, and a ResourceList is one document: an item may alias a node of another
    item. Whatever path reads the items, the decision must use the resolved labels (here an opt-out), never
    treat the alias as missing data."""
    text = """apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: apps
    labels: {istio-injection: enabled}
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: shared
    namespace: apps
    labels: &optout {app: web, sidecar.istio.io/inject: "false"}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: apps}
  spec:
    selector: {matchLabels: {app: web}}
    template:
      metadata:
        labels: *optout
      spec:
        containers: [{name: app, image: nginx}]
"""
    for args in (["fn"], ["inject", "-"]):
        run = run_inproc(args, text)
        assert run.code in (0, 1), run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
        if run.code == 0:
            assert "istio-proxy" not in run.stdout, f"{args[0]}: the opt-out label behind the alias was ignored"
        else:
            assert run.stderr.strip()
