#!/usr/bin/env python3
"""Writes a GGUF file from a Hugging Face LLaMA folder, independently of the engine (numpy only).

It follows llama.cpp's convert_hf_to_gguf.py for the `llama` architecture: the q/k rows of each head permuted
for llama.cpp's interleaved RoPE, 1-D tensors in F32, matrices in the chosen type (Q8_0 quantized as
gguf-py's quants.py does it), the tokenizer.model pieces as tokenizer.ggml.* metadata.

    write_gguf.py MODEL_DIR OUT.gguf [--type f32|f16|bf16|q8_0] [--alignment N] [--vocab-only]
"""
import argparse, json, os, struct, sys
import numpy as np

GGML = {"f32": 0, "f16": 1, "q8_0": 8, "bf16": 30}
# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f"unsupported dtype {info['dtype']}")
        tensors[name] = a.reshape(info["shape"]).astype(np.float32)
    return tensors


def varint(b, p):
    v = s = 0
    while True:
        x = b[p]; p += 1
        v |= (x & 0x7F) << s; s += 7
        if x < 0x80:
            return v, p


def sentencepiece_pieces(path):
    """(piece, score, type) of every piece of a tokenizer.model (ModelProto field 1)."""
    b = open(path, "rb").read()
    p, pieces = 0, []
    while p < len(b):
        tag, p = varint(b, p)
        field, wire = tag >> 3, tag & 7
        if wire == 2:
            n, p = varint(b, p)
            body, p = b[p:p + n], p + n
            if field == 1:
                q, piece, score, kind = 0, "", 0.0, 1
                while q < len(body):
                    t, q = varint(body, q)
                    if t >> 3 == 1:
                        m, q = varint(body, q); piece = body[q:q + m].decode("utf-8"); q += m
                    elif t >> 3 == 2:
                        score = struct.unpack("<f", body[q:q + 4])[0]; q += 4
                    elif t >> 3 == 3:
                        kind, q = varint(body, q)
                    else:
                        sys.exit("unexpected piece field")
                pieces.append((piece, score, kind))
        elif wire == 0:
            _, p = varint(b, p)
        else:
            sys.exit("unexpected wire type")
    return pieces


def permute(w, n_head):
    """convert_hf_to_gguf.LlamaModel.permute: rotate-half rows to llama.cpp's interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def roundf(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def q8_0(a):
    blocks = a.reshape(-1, 32)
    d = np.abs(blocks).max(axis=1, keepdims=True) / 127
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, 0, 1 / d)
    qs = roundf(blocks * inv).astype(np.int8)
    out = np.empty((blocks.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8)
    out[:, 2:] = qs.view(np.uint8)
    return out.tobytes()


def encode(a, kind):
    if kind == "f32":
        return a.astype("<f4").tobytes()
    if kind == "f16":
        return a.astype("<f2").tobytes()
    if kind == "bf16":
        bits = a.astype("<f4").view(np.uint32)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    if kind == "q8_0":
        return q8_0(a)
    raise ValueError(kind)


class Writer:
    def __init__(self):
        self.kv, self.tensors = [], []

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    @staticmethod
    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def value(self, vtype, v):
        fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}
        if vtype == STRING:
            return self.string(v)
        if vtype == ARRAY:
            etype, items = v
            return struct.pack("<IQ", etype, len(items)) + b"".join(self.value(etype, x) for x in items)
        return struct.pack("<" + fmt[vtype], v)

    def write(self, path, alignment):
        head = b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, vtype, v in self.kv:
            head += self.string(key) + struct.pack("<I", vtype) + self.value(vtype, v)
        offset, infos, blobs = 0, b"", []
        for name, shape, kind, blob in self.tensors:
            infos += self.string(name) + struct.pack("<I", len(shape))
            infos += b"".join(struct.pack("<Q", d) for d in reversed(shape))  # ggml order: innermost first
            infos += struct.pack("<IQ", GGML[kind], offset)
            pad = -len(blob) % alignment
            blobs.append(blob + b"\0" * pad)
            offset += len(blob) + pad
        head += infos
        head += b"\0" * (-len(head) % alignment)
        with open(path, "wb") as f:
            f.write(head)
            for b in blobs:
                f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--type", default="f32", choices=list(GGML))
    ap.add_argument("--alignment", type=int, default=32)
    ap.add_argument("--vocab-only", action="store_true")
    args = ap.parse_args()
    config = os.path.join(args.model, "config.json")
    c = json.load(open(config)) if os.path.exists(config) else {"num_attention_heads": 1, "hidden_size": 1}
    w = Writer()
    arch = "llama"
    w.add("general.architecture", STRING, arch)
    w.add("general.name", STRING, os.path.basename(os.path.normpath(args.model)))
    if args.alignment != 32:
        w.add("general.alignment", U32, args.alignment)
    heads, kv_heads = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    head_dim = c.get("head_dim", c["hidden_size"] // heads)
    if not args.vocab_only:
        w.add(f"{arch}.context_length", U32, c.get("max_position_embeddings", 2048))
        w.add(f"{arch}.embedding_length", U32, c["hidden_size"])
        w.add(f"{arch}.block_count", U32, c["num_hidden_layers"])
        w.add(f"{arch}.feed_forward_length", U32, c["intermediate_size"])
        w.add(f"{arch}.rope.dimension_count", U32, head_dim)
        w.add(f"{arch}.attention.head_count", U32, heads)
        w.add(f"{arch}.attention.head_count_kv", U32, kv_heads)
        w.add(f"{arch}.attention.layer_norm_rms_epsilon", F32, c.get("rms_norm_eps", 1e-6))
        w.add(f"{arch}.rope.freq_base", F32, c.get("rope_theta", 10000.0))
        if head_dim != c["hidden_size"] // heads:
            w.add(f"{arch}.attention.key_length", U32, head_dim)
            w.add(f"{arch}.attention.value_length", U32, head_dim)
        w.add("general.file_type", U32, {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}[args.type])
    sp = os.path.join(args.model, "tokenizer.model")
    if os.path.exists(sp):
        pieces = sentencepiece_pieces(sp)
        w.add("tokenizer.ggml.model", STRING, "llama")
        w.add("tokenizer.ggml.tokens", ARRAY, (STRING, [p for p, _, _ in pieces]))
        w.add("tokenizer.ggml.scores", ARRAY, (F32, [s for _, s, _ in pieces]))
        w.add("tokenizer.ggml.token_type", ARRAY, (I32, [t for _, _, t in pieces]))
        w.add("tokenizer.ggml.bos_token_id", U32, c.get("bos_token_id", 1))
        eos = c.get("eos_token_id", 2)
        w.add("tokenizer.ggml.eos_token_id", U32, eos[0] if isinstance(eos, list) else eos)
        w.add("tokenizer.ggml.unknown_token_id", U32, 0)
        w.add("tokenizer.ggml.add_bos_token", BOOL, True)
    if not args.vocab_only:
        files = sorted(f for f in os.listdir(args.model) if f.endswith(".safetensors"))
        t = {}
        for f in files:
            t.update(read_safetensors(os.path.join(args.model, f)))

        def matrix(name, a):
            kind = args.type if a.shape[-1] % 32 == 0 or args.type != "q8_0" else "f32"
            w.tensors.append((name, list(a.shape), kind, encode(a, kind)))

        def vector(name, a):
            w.tensors.append((name, list(a.shape), "f32", encode(a, "f32")))

        matrix("token_embd.weight", t["model.embed_tokens.weight"])
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            vector(f"blk.{i}.attn_norm.weight", t[p + "input_layernorm.weight"])
            matrix(f"blk.{i}.attn_q.weight", permute(t[p + "self_attn.q_proj.weight"], heads))
            matrix(f"blk.{i}.attn_k.weight", permute(t[p + "self_attn.k_proj.weight"], kv_heads))
            matrix(f"blk.{i}.attn_v.weight", t[p + "self_attn.v_proj.weight"])
            matrix(f"blk.{i}.attn_output.weight", t[p + "self_attn.o_proj.weight"])
            vector(f"blk.{i}.ffn_norm.weight", t[p + "post_attention_layernorm.weight"])
            matrix(f"blk.{i}.ffn_gate.weight", t[p + "mlp.gate_proj.weight"])
            matrix(f"blk.{i}.ffn_up.weight", t[p + "mlp.up_proj.weight"])
            matrix(f"blk.{i}.ffn_down.weight", t[p + "mlp.down_proj.weight"])
        vector("output_norm.weight", t["model.norm.weight"])
        if "lm_head.weight" in t and not c.get("tie_word_embeddings", False):
            matrix("output.weight", t["lm_head.weight"])
    w.write(args.out, args.alignment)


if __name__ == "__main__":
    main()
