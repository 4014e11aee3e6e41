#!/usr/bin/env python3
"""Writes a GGUF file from a Hugging Face LLaMA folder, independently of the engine (numpy only).

It follows llama.cpp's convert_hf_to_gguf.py for the `llama` architecture: the q/k rows of each head permuted
for llama.cpp's interleaved RoPE, 1-D tensors in F32, matrices in the chosen type (Q8_0 quantized as
gguf-py's quants.py does it, Q4_0 as its reference quantizer does; Q4_K and Q6_K by a plain min/max rule: any valid
blocks serve), the tokenizer.model pieces as tokenizer.ggml.* metadata. `q4_k_m` mixes types as llama.cpp's Q4_K_M
does: Q4_K, with Q6_K for output.weight and the ffn_down matrices; a row that is not a whole K block falls back
to Q4_0. --dequantized F.safetensors also writes every matrix as the file's blocks decode (gguf-py's dequantizers),
under its Hugging Face name and in its row order, as F32.

--gpt2-ranks R.tiktoken writes a byte-level BPE vocabulary (tokenizer.ggml.model "gpt2") instead of the folder's
tokenizer.model, from a tiktoken rank file ("base64-token rank" lines): tokens spelled in GPT-2's bytes_to_unicode
alphabet, merges recovered from the ranks as Hugging Face's tiktoken converter does (each token's bytes merged with the
lower ranks only end in the two parts of its merge), --pre as tokenizer.ggml.pre, --gpt2-special S.json
({"control": {text: id}, "user_defined": {text: id}, "bos_token_id", "eos_token_id", "add_bos_token",
"padding_token_id"}) for the rest; ids no token takes are "[PAD<id>]", unused, as llama.cpp's converter writes them.
--no-merges leaves tokenizer.ggml.merges out.

    write_gguf.py MODEL_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k_m] [--alignment N] [--vocab-only]
        [--dequantized F.safetensors] [--gpt2-ranks R.tiktoken --pre NAME [--gpt2-special S.json] [--no-merges]]
        [--chat-template T.jinja]
A Qwen2ForCausalLM folder is written as architecture qwen2 (q/k/v biases, rows not permuted), as llama.cpp does.
"""
import argparse, base64, json, os, struct, sys
import numpy as np

GGML = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8, "q4_k": 12, "q6_k": 14, "bf16": 30}
FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k_m": 15, "bf16": 32}
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


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the others for U+0100 onwards, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def merge_with_ranks(ranks, token, max_rank):
    """tiktoken's byte-pair merge of `token`, using only the merges of rank below max_rank."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def gpt2_vocabulary(w, ranks_path, pre, special_path, with_merges):
    ranks = {}
    for line in open(ranks_path, "rb"):
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    special = json.load(open(special_path)) if special_path else {}
    spell = bytes_to_unicode()
    by_id = {rank: ("".join(spell[b] for b in token), 1) for token, rank in ranks.items()}
    for kind, toktype in (("control", 3), ("user_defined", 4)):
        for text, i in special.get(kind, {}).items():
            by_id[i] = (text, toktype)
    n = max(by_id) + 1
    tokens = [by_id.get(i, (f"[PAD{i}]", 5)) for i in range(n)]
    w.add("tokenizer.ggml.model", STRING, "gpt2")
    w.add("tokenizer.ggml.pre", STRING, pre)
    w.add("tokenizer.ggml.tokens", ARRAY, (STRING, [t for t, _ in tokens]))
    w.add("tokenizer.ggml.token_type", ARRAY, (I32, [k for _, k in tokens]))
    if with_merges:
        merges = []
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            if len(token) == 1:
                continue
            parts = merge_with_ranks(ranks, token, rank)
            if len(parts) != 2:
                sys.exit(f"token of rank {rank} is not the merge of two lower-ranked tokens")
            merges.append(" ".join("".join(spell[b] for b in p) for p in parts))
        w.add("tokenizer.ggml.merges", ARRAY, (STRING, merges))
    for key in ("bos_token_id", "eos_token_id", "padding_token_id"):
        if key in special:
            w.add(f"tokenizer.ggml.{key}", U32, special[key])
    if "add_bos_token" in special:
        w.add("tokenizer.ggml.add_bos_token", BOOL, special["add_bos_token"])


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


def fp16(x):
    return np.asarray(x, dtype=np.float32).astype("<f2")


def q4_0(a):
    """gguf-py's Q4_0: d = the value of largest magnitude / -8, q = trunc(w / d + 8.5) clipped to 0..15."""
    blocks = a.reshape(-1, 32).astype(np.float32)
    imax = np.abs(blocks).argmax(axis=-1, keepdims=True)
    d = np.take_along_axis(blocks, imax, axis=-1) / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    qs = np.trunc(blocks.astype(np.float64) * inv.astype(np.float64) + 8.5, dtype=np.float32).astype(np.uint8).clip(0, 15)
    packed = qs[:, :16] | (qs[:, 16:] << np.uint8(4))
    return np.concatenate([fp16(d).view(np.uint8), packed], axis=1).tobytes()


def q4_k(a):
    out = []
    for x in a.reshape(-1, 256).astype(np.float32):
        sub = x.reshape(8, 32)
        lo = np.minimum(sub.min(axis=1), 0)
        scale = (sub.max(axis=1) - lo) / 15
        mins = -lo
        d, dmin = fp16(scale.max() / 63), fp16(mins.max() / 63)
        df, dminf = np.float32(d), np.float32(dmin)
        ls = np.clip(np.round(scale / df) if df > 0 else np.zeros(8), 0, 63).astype(np.uint8)
        lm = np.clip(np.round(mins / dminf) if dminf > 0 else np.zeros(8), 0, 63).astype(np.uint8)
        L = np.zeros((8, 32), dtype=np.uint8)
        for j in range(8):
            step = df * np.float32(ls[j])
            if step > 0:
                L[j] = np.clip(np.round((sub[j] + dminf * np.float32(lm[j])) / step), 0, 15)
        packed = np.zeros(12, dtype=np.uint8)
        for j in range(8):
            if j < 4:
                packed[j] = ls[j]
                packed[j + 4] = lm[j]
            else:
                packed[j + 4] = (ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4)
                packed[j - 4] |= (ls[j] >> 4) << 6
                packed[j] |= (lm[j] >> 4) << 6
        L = L.reshape(256)
        qs = np.zeros(128, dtype=np.uint8)
        for j in range(0, 256, 64):
            qs[j // 2: j // 2 + 32] = L[j:j + 32] | (L[j + 32:j + 64] << np.uint8(4))
        out.append(d.tobytes() + dmin.tobytes() + packed.tobytes() + qs.tobytes())
    return b"".join(out)


def q6_k(a):
    out = []
    for x in a.reshape(-1, 256).astype(np.float32):
        sub = x.reshape(16, 16)
        scale = np.abs(sub).max(axis=1) / 31
        d = fp16(scale.max() / 127)
        df = np.float32(d)
        sc = np.clip(np.round(scale / df) if df > 0 else np.zeros(16), -128, 127).astype(np.int8)
        L = np.full((16, 16), 32, dtype=np.uint8)
        for j in range(16):
            step = df * np.float32(sc[j])
            if step != 0:
                L[j] = (np.clip(np.round(sub[j] / step), -32, 31) + 32).astype(np.uint8)
        L = L.reshape(256)
        ql, qh = np.zeros(128, dtype=np.uint8), np.zeros(64, dtype=np.uint8)
        for j in range(0, 256, 128):
            for l in range(32):
                ql[j // 2 + l] = (L[j + l] & 0x0F) | ((L[j + l + 64] & 0x0F) << 4)
                ql[j // 2 + l + 32] = (L[j + l + 32] & 0x0F) | ((L[j + l + 96] & 0x0F) << 4)
                qh[j // 4 + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6)
        out.append(ql.tobytes() + qh.tobytes() + sc.tobytes() + d.tobytes())
    return b"".join(out)


def dequantize(blob, kind, shape):
    """gguf-py's dequantize_blocks for the block types, rows of shape[-1] weights."""
    raw = np.frombuffer(blob, dtype=np.uint8)
    if kind == "q8_0":
        b = raw.reshape(-1, 34)
        w = b[:, :2].copy().view("<f2").astype(np.float32) * b[:, 2:].copy().view(np.int8).astype(np.float32)
    elif kind == "q4_0":
        b = raw.reshape(-1, 18)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        q = np.concatenate([b[:, 2:] & 0x0F, b[:, 2:] >> 4], axis=1).astype(np.int8) - np.int8(8)
        w = d * q.astype(np.float32)
    elif kind == "q4_k":
        b = raw.reshape(-1, 144)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        dmin = b[:, 2:4].copy().view("<f2").astype(np.float32)
        s3 = b[:, 4:16].reshape(-1, 3, 4)
        dd, m, md = s3[:, 0], s3[:, 1], s3[:, 2]
        sc = np.concatenate([dd & 0x3F, (md & 0x0F) | ((dd >> 2) & 0x30)], axis=-1)
        mn = np.concatenate([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], axis=-1)
        dl = (d * sc.astype(np.float32)).reshape(-1, 8, 1)
        dm = (dmin * mn.astype(np.float32)).reshape(-1, 8, 1)
        qs = b[:, 16:].reshape(-1, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
        qs = (qs & 0x0F).reshape(-1, 8, 32).astype(np.float32)
        w = dl * qs - dm
    elif kind == "q6_k":
        b = raw.reshape(-1, 210)
        ql, qh = b[:, :128], b[:, 128:192]
        scales = b[:, 192:208].copy().view(np.int8).astype(np.float32)
        d = b[:, 208:210].copy().view("<f2").astype(np.float32)
        dl = (d * scales).reshape(-1, 16, 1)
        ql = ql.reshape(-1, 2, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
        ql = (ql & 0x0F).reshape(-1, 2, 128)
        qh = qh.reshape(-1, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
        qh = (qh & 0x03).reshape(-1, 2, 128)
        q = (ql | (qh << np.uint8(4))).astype(np.int8) - np.int8(32)
        w = dl * q.reshape(-1, 16, 16).astype(np.float32)
    else:
        w = np.frombuffer(blob, dtype="<f4")
    return w.reshape(shape).astype(np.float32)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        blob = a.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


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
    if kind == "q4_0":
        return q4_0(a)
    if kind == "q4_k":
        return q4_k(a)
    if kind == "q6_k":
        return q6_k(a)
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
    ap.add_argument("--type", default="f32", choices=list(FILE_TYPES))
    ap.add_argument("--dequantized")
    ap.add_argument("--alignment", type=int, default=32)
    ap.add_argument("--vocab-only", action="store_true")
    ap.add_argument("--gpt2-ranks")
    ap.add_argument("--pre", default="llama-bpe")
    ap.add_argument("--gpt2-special")
    ap.add_argument("--no-merges", action="store_true")
    ap.add_argument("--chat-template")
    args = ap.parse_args()
    config = os.path.join(args.model, "config.json")
    c = json.load(open(config)) if os.path.exists(config) else {"num_attention_heads": 1, "hidden_size": 1}
    w = Writer()
    # convert_hf_to_gguf's Qwen2Model: architecture qwen2, q/k/v biases, rows not permuted (NEOX RoPE).
    arch = "qwen2" if c.get("architectures", [""])[0] == "Qwen2ForCausalLM" else "llama"
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
        w.add("general.file_type", U32, FILE_TYPES[args.type])
    sp = os.path.join(args.model, "tokenizer.model")
    if args.gpt2_ranks:
        gpt2_vocabulary(w, args.gpt2_ranks, args.pre, args.gpt2_special, not args.no_merges)
    elif os.path.exists(sp):
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

        dequantized = {}

        def matrix(name, a, hf_name, heads_of_rows=None):
            kind = args.type
            if kind == "q4_k_m":
                kind = "q6_k" if name == "output.weight" or name.endswith("ffn_down.weight") else "q4_k"
                if a.shape[-1] % 256 != 0:
                    kind = "q4_0"
            if kind in ("q8_0", "q4_0") and a.shape[-1] % 32 != 0:
                kind = "f32"
            blob = encode(a, kind)
            w.tensors.append((name, list(a.shape), kind, blob))
            if kind not in ("f16", "bf16"):
                d = dequantize(blob, kind, a.shape)
                dequantized[hf_name] = unpermute(d, heads_of_rows) if heads_of_rows else d

        def vector(name, a):
            w.tensors.append((name, list(a.shape), "f32", encode(a, "f32")))

        matrix("token_embd.weight", t["model.embed_tokens.weight"], "model.embed_tokens.weight")
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            vector(f"blk.{i}.attn_norm.weight", t[p + "input_layernorm.weight"])
            if arch == "llama":
                matrix(f"blk.{i}.attn_q.weight", permute(t[p + "self_attn.q_proj.weight"], heads), p + "self_attn.q_proj.weight", heads)
                matrix(f"blk.{i}.attn_k.weight", permute(t[p + "self_attn.k_proj.weight"], kv_heads), p + "self_attn.k_proj.weight", kv_heads)
            else:
                matrix(f"blk.{i}.attn_q.weight", t[p + "self_attn.q_proj.weight"], p + "self_attn.q_proj.weight")
                matrix(f"blk.{i}.attn_k.weight", t[p + "self_attn.k_proj.weight"], p + "self_attn.k_proj.weight")
                for g, h in [("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj")]:
                    vector(f"blk.{i}.{g}.bias", t[p + f"self_attn.{h}.bias"])
            for g, h in [("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj")]:
                matrix(f"blk.{i}.{g}.weight", t[p + h + ".weight"], p + h + ".weight")
            vector(f"blk.{i}.ffn_norm.weight", t[p + "post_attention_layernorm.weight"])
            for g, h in [("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj")]:
                matrix(f"blk.{i}.{g}.weight", t[p + h + ".weight"], p + h + ".weight")
        vector("output_norm.weight", t["model.norm.weight"])
        if "lm_head.weight" in t and not c.get("tie_word_embeddings", False):
            matrix("output.weight", t["lm_head.weight"], "lm_head.weight")
        if args.dequantized:
            write_safetensors(args.dequantized, dequantized)
    if args.chat_template:
        w.add("tokenizer.chat_template", STRING, open(args.chat_template, encoding="utf-8").read())
    w.write(args.out, args.alignment)


if __name__ == "__main__":
    main()
