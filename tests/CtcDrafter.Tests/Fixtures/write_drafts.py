#!/usr/bin/env python3
"""Writes draft checkpoints in the official layouts, and what they compute, for the import tests.

    write_drafts.py BASE_DIR OUT_DIR DEEP_BASE_DIR

BASE_DIR and DEEP_BASE_DIR are small LLaMA folders (model.safetensors, F32) of one width and vocabulary, the deep one
with 8 layers for EAGLE-3's low, middle and high layers. Under OUT_DIR, with random weights bound to those bases:
  eagle-bin/     EAGLE-1: config.json + pytorch_model.bin (torch.save, float32), embed_tokens.weight = the base's
  eagle-bin-shards/  the same as two torch.save shards and pytorch_model.bin.index.json
  eagle-st/      the same weights as model.safetensors (float16)
  eagle-st-shards/   the same as two safetensors shards and model.safetensors.index.json
  ctc-bin/       CTC-drafter (EAGLE-1 layout, blank = token 0): pytorch_model.bin in bfloat16, fc.weight a transposed
                 view and q/k/v slices of one fused storage
  eagle-qwen2-st/  EAGLE-1 for a Qwen2 base: a Qwen2 config, q/k/v projections with biases, model.safetensors (float32)
  medusa-pt/     Medusa-1: medusa_lm_head.pt (float16, 5 heads) + config.json saying medusa_num_heads 2
  medusa2-pt/    Medusa-1 with medusa_num_layers 2 (one ResBlock repeated, as Medusa builds it: shared storages)
  medusa-st/, medusa2-st/  the same heads as medusa_lm_head.safetensors
  eagle3-bin/    EAGLE-3 for the deep base: pytorch_model.bin (float32) with d2t (int64) and t2d (bool) over a draft
                 vocabulary of 60 tokens, no layer ids in config.json (EAGLE-3's default: inputs of layers 2, L/2, L-3)
  eagle3-st/     EAGLE-3 over the whole vocabulary as model.safetensors (float16), reading layers 1, 4, 7 named as
                 SGLang names them (eagle_config.eagle_aux_hidden_state_layer_ids = outputs of layers 0, 3, 6)
  eagle3-vllm-st/  the same weights with the layers named as vLLM names them (top-level ids = inputs of 1, 4, 7)
  expected.json  the deep base's residual stream at the input of each layer and its final hidden state for
                 base_tokens; the committed tokens and features, the root, and each draft's next-token distributions computed
                 here by an independent PyTorch implementation of the modules (float32)

Nothing here reads the engine's code: the modules follow the EAGLE and Medusa papers' code as published.
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from write_gguf import read_safetensors  # noqa: E402  (the GGUF fixture writer's own reader)

torch.manual_seed(7)
F = torch.nn.functional


def write_safetensors(path, tensors):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate(x, theta):
    """Rotary embedding of x [T, heads, d] at positions 0..T-1, halves rotated (LLaMA's Hugging Face layout)."""
    T, _, d = x.shape
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :], torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    return x * cos + torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1) * sin


class Eagle1:
    """EAGLE-1's draft: fc(cat(embed(x), h)) + one LLaMA layer without input norm, no final norm, the base's head."""

    def __init__(self, cfg, embed, scale, qkv_bias=False):
        self.embed = embed  # EAGLE's code loads the base's own embedding (load_emb), whatever the file's copy
        H, f, nh, nkv = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        d = H // nh
        r = lambda *s: torch.randn(*s) * scale
        self.cfg, self.d = cfg, d
        self.w = {
            "embed_tokens.weight": embed.clone(),
            "fc.weight": r(H, 2 * H), "fc.bias": r(H),
            "layers.0.self_attn.q_proj.weight": r(nh * d, H) * 2, "layers.0.self_attn.k_proj.weight": r(nkv * d, H) * 2,
            "layers.0.self_attn.v_proj.weight": r(nkv * d, H), "layers.0.self_attn.o_proj.weight": r(H, nh * d),
            "layers.0.post_attention_layernorm.weight": 1 + 0.1 * torch.randn(H),
            "layers.0.mlp.gate_proj.weight": r(f, H), "layers.0.mlp.up_proj.weight": r(f, H), "layers.0.mlp.down_proj.weight": r(H, f),
        }
        if qkv_bias:  # Qwen2's attention: nn.Linear(..., bias=True) for q, k and v
            for n, rows in (("q", nh * d), ("k", nkv * d), ("v", nkv * d)):
                self.w[f"layers.0.self_attn.{n}_proj.bias"] = torch.randn(rows) * 0.5

    def cast(self, dtype):
        self.w = {k: v.to(dtype) for k, v in self.w.items()}

    def forward(self, hidden, tokens):
        """Draft outputs [T, H] for the pairs (hidden[j], tokens[j]), causal, positions 0..T-1."""
        w = {k: v.float() for k, v in self.w.items()}
        c, d = self.cfg, self.d
        nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
        z = F.linear(torch.cat([self.embed[tokens], hidden], -1), w["fc.weight"], w["fc.bias"])
        T = z.shape[0]
        p = "layers.0.self_attn."
        b = lambda n: w.get(p + n + "_proj.bias")
        q = rotate(F.linear(z, w[p + "q_proj.weight"], b("q")).view(T, nh, d), c["rope_theta"])
        k = rotate(F.linear(z, w[p + "k_proj.weight"], b("k")).view(T, nkv, d), c["rope_theta"]).repeat_interleave(nh // nkv, 1)
        v = F.linear(z, w[p + "v_proj.weight"], b("v")).view(T, nkv, d).repeat_interleave(nh // nkv, 1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(d)
        scores = scores.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
        att = torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(T, nh * d)
        x = z + F.linear(att, w[p + "o_proj.weight"])
        m = rms_norm(x, w["layers.0.post_attention_layernorm.weight"], c["rms_norm_eps"])
        return x + F.linear(F.silu(F.linear(m, w["layers.0.mlp.gate_proj.weight"])) * F.linear(m, w["layers.0.mlp.up_proj.weight"]),
                            w["layers.0.mlp.down_proj.weight"])

    def chain(self, features, tokens, root, depth, head, blank=None):
        """The greedy chain after committing tokens with their base features: depth distributions under root."""
        hs, xs = list(features[:-1]), list(tokens[1:])  # committed pairs (h_{i-1}, x_i)
        h, x, out = features[-1], root, []
        for _ in range(depth):
            hs.append(h)
            xs.append(x)
            f = self.forward(torch.stack(hs), torch.tensor(xs))[-1]
            probs = F.linear(f, head).softmax(-1)
            out.append(probs.tolist())
            ranked = probs.argsort(descending=True).tolist()
            x = next(t for t in ranked if t != blank)
            h = f
        return out


def attention(x, w, p, cfg, bias=None):
    """Causal self-attention at positions 0..T-1 over inputs x [T, in] with weights named p + "{q,k,v,o}_proj.weight"."""
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or cfg["hidden_size"] // nh
    T = x.shape[0]
    q = rotate(F.linear(x, w[p + "q_proj.weight"]).view(T, nh, d), cfg["rope_theta"])
    k = rotate(F.linear(x, w[p + "k_proj.weight"]).view(T, nkv, d), cfg["rope_theta"]).repeat_interleave(nh // nkv, 1)
    v = F.linear(x, w[p + "v_proj.weight"]).view(T, nkv, d).repeat_interleave(nh // nkv, 1)
    scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(d)
    scores = scores.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
    return F.linear(torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(T, nh * d), w[p + "o_proj.weight"])


def mlp(x, w, p):
    return F.linear(F.silu(F.linear(x, w[p + "gate_proj.weight"])) * F.linear(x, w[p + "up_proj.weight"]), w[p + "down_proj.weight"])


def base_states(cfg, w, tokens):
    """A Hugging Face LLaMA's residual stream at the input of every layer, and its final hidden state (after the norm)."""
    x, states, eps = w["model.embed_tokens.weight"][tokens], [], cfg["rms_norm_eps"]
    for l in range(cfg["num_hidden_layers"]):
        states.append(x)
        p = f"model.layers.{l}."
        x = x + attention(rms_norm(x, w[p + "input_layernorm.weight"], eps), w, p + "self_attn.", cfg)
        x = x + mlp(rms_norm(x, w[p + "post_attention_layernorm.weight"], eps), w, p + "mlp.")
    return states, rms_norm(x, w["model.norm.weight"], eps)


class Eagle3:
    """EAGLE-3's draft as its code computes it: z = fc(cat of the base's layer states) or, deeper, the draft's own output;
    x = z + attn([input_layernorm(embed(token)); hidden_norm(z)]); x += mlp(post_attention_layernorm(x)); logits over the
    draft vocabulary = lm_head(norm(x)), draft id d standing for token d + d2t[d]."""

    def __init__(self, cfg, embed, layers, draft_vocab):
        self.embed, self.cfg = embed, cfg
        V, H = embed.shape
        f, nh, nkv = cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        d = H // nh
        r = lambda *s: torch.randn(*s) / math.sqrt(s[-1])
        p = "midlayer."
        self.w = {
            "fc.weight": r(H, layers * H),
            p + "input_layernorm.weight": 1 + 0.1 * torch.randn(H), p + "hidden_norm.weight": 1 + 0.1 * torch.randn(H),
            p + "self_attn.q_proj.weight": r(nh * d, 2 * H) * 2, p + "self_attn.k_proj.weight": r(nkv * d, 2 * H) * 2,
            p + "self_attn.v_proj.weight": r(nkv * d, 2 * H), p + "self_attn.o_proj.weight": r(H, nh * d),
            p + "post_attention_layernorm.weight": 1 + 0.1 * torch.randn(H),
            p + "mlp.gate_proj.weight": r(f, H), p + "mlp.up_proj.weight": r(f, H), p + "mlp.down_proj.weight": r(H, f),
            "norm.weight": 1 + 0.1 * torch.randn(H), "lm_head.weight": r(draft_vocab, H) * 4,
        }
        ids = torch.randperm(V)[:draft_vocab].sort().values
        self.w["d2t"] = ids - torch.arange(draft_vocab)
        self.w["t2d"] = torch.zeros(V, dtype=torch.bool)
        self.w["t2d"][ids] = True

    def cast(self, dtype):
        return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in self.w.items()}

    def distribution(self, out, w):
        """The draft's next-token distribution over the base vocabulary from a layer output [H]."""
        c = self.cfg
        probs = F.linear(rms_norm(out, w["norm.weight"], c["rms_norm_eps"]), w["lm_head.weight"]).softmax(-1)
        full = torch.zeros(self.embed.shape[0])
        full[torch.arange(probs.shape[0]) + w["d2t"]] = probs
        return full

    def chain(self, states, tokens, root, depth, weights=None):
        """The greedy chain after committing tokens with their base states [T, layers * H]: depth distributions under root."""
        w = {k: (v.float() if v.is_floating_point() else v) for k, v in (weights or self.w).items()}
        c, p = self.cfg, "midlayer."
        zs, xs = [F.linear(g, w["fc.weight"]) for g in states[:-1]], list(tokens[1:])  # committed pairs (g_{i-1}, x_i)
        z, x, out = F.linear(states[-1], w["fc.weight"]), root, []
        for _ in range(depth):
            zs.append(z)
            xs.append(x)
            Z = torch.stack(zs)
            a = torch.cat([rms_norm(self.embed[torch.tensor(xs)], w[p + "input_layernorm.weight"], c["rms_norm_eps"]),
                           rms_norm(Z, w[p + "hidden_norm.weight"], c["rms_norm_eps"])], -1)
            h = Z + attention(a, w, p + "self_attn.", c)
            h = h + mlp(rms_norm(h, w[p + "post_attention_layernorm.weight"], c["rms_norm_eps"]), w, p + "mlp.")
            probs = self.distribution(h[-1], w)
            out.append(probs.tolist())
            x = int(probs.argmax())
            z = h[-1]  # the draft's own output is the next step's feature, without fc
        return out


class ResBlock(torch.nn.Module):
    def __init__(self, H):
        super().__init__()
        self.linear = torch.nn.Linear(H, H)

    def forward(self, x):
        return x + F.silu(self.linear(x))


def medusa_heads(H, V, heads, layers):
    """Medusa-1's heads as its code builds them: Sequential(*([ResBlock(H)] * layers), Linear(H, V, bias=False))."""
    m = torch.nn.ModuleList([torch.nn.Sequential(*([ResBlock(H)] * layers), torch.nn.Linear(H, V, bias=False)) for _ in range(heads)])
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 1 / math.sqrt(H))
    return m


def main():
    base_dir, out, deep_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(base_dir, "config.json")) as f:
        base = json.load(f)
    w = {k: torch.from_numpy(v) for k, v in read_safetensors(os.path.join(base_dir, "model.safetensors")).items()}
    embed = w["model.embed_tokens.weight"]
    head = w.get("lm_head.weight", embed)
    V, H = embed.shape
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": 80,
        "num_hidden_layers": 1, "num_attention_heads": base["num_attention_heads"], "num_key_value_heads": 2,
        "vocab_size": V, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 5000.0,
        "hidden_act": "silu", "torch_dtype": "float16", "bias": True, "pad_token_id": 0,
    }
    tokens = torch.randint(1, V, (12,)).tolist()
    features = torch.randn(len(tokens), H)
    root, depth = int(torch.randint(1, V, ()).item()), 3
    expected = {"tokens": tokens, "features": features.tolist(), "root": root}

    def folder(name, config):
        path = os.path.join(out, name)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        return path

    def shards(names):
        """Two shards, as Hugging Face's save_pretrained splits a large checkpoint: the names of each, and the index."""
        names = sorted(names)
        return names[: len(names) // 2], names[len(names) // 2:]

    def index(path, files):
        with open(path, "w") as f:
            json.dump({"metadata": {}, "weight_map": {n: file for file, names in files.items() for n in names}}, f, indent=2)

    eagle = Eagle1(cfg, embed, 1 / math.sqrt(H))
    torch.save(eagle.w, os.path.join(folder("eagle-bin", cfg), "pytorch_model.bin"))
    first, second = shards(list(eagle.w))
    sharded = folder("eagle-bin-shards", cfg)
    files = {"pytorch_model-00001-of-00002.bin": first, "pytorch_model-00002-of-00002.bin": second}
    for file, names in files.items():
        torch.save({n: eagle.w[n] for n in names}, os.path.join(sharded, file))
    index(os.path.join(sharded, "pytorch_model.bin.index.json"), files)
    expected["eagle"] = eagle.chain(features, tokens, root, depth, head)
    eagle.cast(torch.float16)
    write_safetensors(os.path.join(folder("eagle-st", cfg), "model.safetensors"), eagle.w)
    sharded = folder("eagle-st-shards", cfg)
    files = {"model-00001-of-00002.safetensors": first, "model-00002-of-00002.safetensors": second}
    for file, names in files.items():
        write_safetensors(os.path.join(sharded, file), {n: eagle.w[n] for n in names})
    index(os.path.join(sharded, "model.safetensors.index.json"), files)
    expected["eagle-st"] = eagle.chain(features, tokens, root, depth, head)

    qwen2 = dict(cfg, architectures=["Qwen2ForCausalLM"], model_type="qwen2", torch_dtype="float32")
    eagle_qwen2 = Eagle1(qwen2, embed, 1 / math.sqrt(H), qkv_bias=True)
    write_safetensors(os.path.join(folder("eagle-qwen2-st", qwen2), "model.safetensors"), eagle_qwen2.w)
    expected["eagle-qwen2"] = eagle_qwen2.chain(features, tokens, root, depth, head)

    ctc = Eagle1(cfg, embed, 1 / math.sqrt(H))
    ctc.cast(torch.bfloat16)
    # Saved as checkpoints often hold them: fc.weight a transposed view (strides (1, rows)), and q/k/v slices of one
    # fused projection (one storage, three offsets). torch.save keeps the views as they are.
    views = dict(ctc.w)
    views["fc.weight"] = ctc.w["fc.weight"].t().contiguous().t()
    qkv = ["layers.0.self_attn.q_proj.weight", "layers.0.self_attn.k_proj.weight", "layers.0.self_attn.v_proj.weight"]
    fused, start = torch.cat([ctc.w[n] for n in qkv]), 0
    for n in qkv:
        views[n] = fused[start:start + ctc.w[n].shape[0]]
        start += ctc.w[n].shape[0]
    assert not views["fc.weight"].is_contiguous()
    torch.save(views, os.path.join(folder("ctc-bin", cfg), "pytorch_model.bin"))
    expected["ctc"] = ctc.chain(features, tokens, root, depth, head, blank=0)

    for name, heads, layers, dtype in [("medusa", 5, 1, torch.float16), ("medusa2", 3, 2, torch.float32)]:
        m = medusa_heads(H, V, heads, layers).to(dtype)
        config = {"medusa_num_heads": 2 if heads == 5 else heads, "medusa_num_layers": layers, "base_model_name_or_path": "base"}
        torch.save(m.state_dict(), os.path.join(folder(name + "-pt", config), "medusa_lm_head.pt"))
        write_safetensors(os.path.join(folder(name + "-st", config), "medusa_lm_head.safetensors"),
                          {k: v.clone() for k, v in m.state_dict().items()})
        m = m.float()
        with torch.no_grad():
            expected[name] = [m[i](features[-1]).softmax(-1).tolist() for i in range(heads)]

    with open(os.path.join(deep_dir, "config.json")) as f:
        deep = json.load(f)
    dw = {k: torch.from_numpy(v) for k, v in read_safetensors(os.path.join(deep_dir, "model.safetensors")).items()}
    assert tuple(dw["model.embed_tokens.weight"].shape) == (V, H)
    base_tokens = torch.randint(0, V, (9,))
    with torch.no_grad():
        layer_inputs, final = base_states(deep, dw, base_tokens)
    expected["base_tokens"] = base_tokens.tolist()
    expected["base_layer_inputs"] = [s.tolist() for s in layer_inputs]
    expected["base_final"] = final.tolist()

    e3cfg = dict(cfg, architectures=["LlamaForCausalLMEagle3"], torch_dtype="float32", num_key_value_heads=2)
    states = torch.randn(len(tokens), 3 * H)
    expected["eagle3_features"] = states.tolist()
    deep_embed = dw["model.embed_tokens.weight"]
    eagle3 = Eagle3(e3cfg, deep_embed, 3, 60)
    torch.save(eagle3.w, os.path.join(folder("eagle3-bin", dict(e3cfg, draft_vocab_size=60)), "pytorch_model.bin"))
    with torch.no_grad():
        expected["eagle3"] = eagle3.chain(states, tokens, root, depth)
    full = Eagle3(e3cfg, deep_embed, 3, V)
    half = full.cast(torch.float16)
    write_safetensors(os.path.join(folder("eagle3-st", dict(e3cfg, draft_vocab_size=V, eagle_config={"eagle_aux_hidden_state_layer_ids": [0, 3, 6]})),
                                   "model.safetensors"), half)
    write_safetensors(os.path.join(folder("eagle3-vllm-st", dict(e3cfg, draft_vocab_size=V, eagle_aux_hidden_state_layer_ids=[1, 4, 7])),
                                   "model.safetensors"), half)
    with torch.no_grad():
        expected["eagle3-st"] = full.chain(states, tokens, root, depth, weights=half)

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
