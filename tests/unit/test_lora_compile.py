"""The CPU LoRA custom ops (`agents.serving._lora_compile`) under torch.compile, without an engine.

A graph traced once must not freeze the LoRA path's per-step state: here the "wrapper" scales its
delta by a Python number that changes between calls (as vLLM's per-step plan does); the compiled
function must follow it, call after call, with fullgraph (no graph break), as vLLM's CPU compile
mode traces. The traced method must also leave eager calls to the eager code.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from agents.serving import _lora_compile as lc  # noqa: E402


class FakeWrapper:
    """A punica wrapper whose LoRA delta is `x @ a @ b * self.step_scale`: per-step state."""

    def __init__(self) -> None:
        self.step_scale = 1.0
        self.eager_calls = 0


def eager_linear(self, y, x, lora_a, lora_b, scale, output_slices, *, buffer=None, **kw):
    self.eager_calls += 1
    y += (x @ lora_a[0] @ lora_b[0]) * scale * self.step_scale


def eager_embedding(self, y, x, lora_b, add_inputs=True, **kw):
    self.eager_calls += 1
    y += x @ lora_b * self.step_scale


@pytest.fixture
def wrapper():
    cls = type("Wrapper", (FakeWrapper,), {})
    cls.__init__ = lc.keyed_init(FakeWrapper.__init__)
    cls._lora_league_eager_linear = eager_linear  # as vllm_patches keeps them on the class
    cls._lora_league_eager_embedding = eager_embedding
    cls.add_lora_linear = lc.traced_add_lora_linear
    cls.add_lora_embedding = lc.traced_add_lora_embedding
    return cls()


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_compiled_lora_follows_per_step_state(wrapper, backend):
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 2, generator=gen), torch.randn(2, 4, generator=gen)
    e = torch.randn(3, 4, generator=gen)

    def forward(x, base):
        y = base * 2.0  # an intermediate, as a linear layer's output is
        wrapper.add_lora_linear(y, x, (a,), (b,), 0.5, (4,))
        z = y + 1.0
        wrapper.add_lora_embedding(z, x[:, :3], e, add_input=True)  # as vLLM 0.32 calls it
        return z

    compiled = torch.compile(forward, backend=backend, fullgraph=True, dynamic=True)
    for step, scale in enumerate([0.0, 1.0, -3.0]):
        wrapper.step_scale = scale  # vLLM's update_metadata, between steps
        x, base = torch.randn(5 + step, 8, generator=gen), torch.randn(5 + step, 4, generator=gen)
        wrapper.eager_calls = 0
        got = compiled(x, base)
        assert wrapper.eager_calls == 2, "the ops' bodies run at every call, outside the graph"
        want = base * 2.0 + (x @ a @ b) * 0.5 * scale + 1.0 + x[:, :3] @ e * scale
        torch.testing.assert_close(got, want)


def test_a_call_the_op_does_not_carry_fails_the_trace_instead_of_freezing(wrapper):
    torch._dynamo.reset()
    a, b = torch.ones(8, 2), torch.ones(2, 4)

    def forward(x):
        y = x[:, :4] * 1.0
        wrapper.add_lora_linear(y, x, (a,), (b,), 1.0, (4,), buffer=(torch.zeros(1),))
        return y

    with pytest.raises(Exception, match="no buffer"):
        torch.compile(forward, backend="eager", fullgraph=True)(torch.ones(3, 8))


def test_a_graph_for_a_wrapper_this_process_lost_fails_loudly(wrapper):
    import gc

    key = type(wrapper)()._lora_league_key  # made and dropped: its key now names nobody
    gc.collect()
    with pytest.raises(RuntimeError, match="does not hold"):
        y, x, a, b = torch.zeros(2, 4), torch.ones(2, 8), torch.ones(8, 2), torch.ones(2, 4)
        torch.ops.lora_league.add_lora_linear(y, x, [a], [b], 1.0, [4], key)


def test_eager_calls_go_straight_to_the_eager_code(wrapper):
    y, x = torch.zeros(2, 4), torch.ones(2, 8)
    a, b = torch.ones(8, 2), torch.ones(2, 4)
    wrapper.add_lora_linear(y, x, (a,), (b,), 1.0, (4,))
    assert wrapper.eager_calls == 1 and torch.equal(y, torch.full((2, 4), 16.0))


def test_each_wrapper_has_its_own_key(wrapper):
    other = type(wrapper)()
    assert lc._WRAPPERS[wrapper._lora_league_key] is wrapper
    assert lc._WRAPPERS[other._lora_league_key] is other


def test_compile_is_opt_in(monkeypatch):
    monkeypatch.delenv(lc.ENV_VAR, raising=False)
    assert not lc.compile_enabled()
    monkeypatch.setenv(lc.ENV_VAR, "1")
    assert lc.compile_enabled()


def test_a_lora_engine_keeps_the_compile_mode_only_when_asked(monkeypatch):
    pytest.importorskip("vllm")
    from types import SimpleNamespace

    from vllm.config import CompilationMode

    def stock(cls, vllm_config):  # what the CPU platform does: trace once, but not with LoRA
        vllm_config.compilation_config.mode = CompilationMode.DYNAMO_TRACE_ONCE
        if vllm_config.lora_config is not None:
            vllm_config.compilation_config.mode = CompilationMode.NONE

    def config(lora, mode=CompilationMode.VLLM_COMPILE):
        return SimpleNamespace(compilation_config=SimpleNamespace(mode=mode), lora_config=lora)

    patched = lc.keep_compile_mode(stock)
    monkeypatch.setenv(lc.ENV_VAR, "1")
    for lora, want in ((object(), CompilationMode.DYNAMO_TRACE_ONCE),
                       (None, CompilationMode.DYNAMO_TRACE_ONCE)):  # fmt: skip
        cfg = config(lora)
        patched(None, cfg)
        assert cfg.compilation_config.mode == want
    eager = config(object(), mode=CompilationMode.NONE)  # enforce_eager: stays eager
    lc.keep_compile_mode(lambda cls, c: None)(None, eager)
    assert eager.compilation_config.mode == CompilationMode.NONE
    monkeypatch.setenv(lc.ENV_VAR, "0")
    cfg = config(object())
    patched(None, cfg)
    assert cfg.compilation_config.mode == CompilationMode.NONE
