namespace CtcDrafter.Text;

/// <summary>The parts of SentencePiece's <c>ModelProto</c> (sentencepiece_model.proto) that encoding and
/// decoding depend on, read from and written to a <c>.model</c> file.</summary>
internal sealed class SentencePieceModel
{
    internal enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

    internal enum ModelKind { Unigram = 1, Bpe = 2, Word = 3, Char = 4 }

    public required string[] Pieces { get; init; }
    public required float[] Scores { get; init; }
    public required PieceType[] Types { get; init; }

    // TrainerSpec; defaults are the proto2 defaults of sentencepiece_model.proto.
    public ModelKind Kind { get; init; } = ModelKind.Unigram;
    public bool ByteFallback { get; init; }
    public bool TreatWhitespaceAsSuffix { get; init; }
    public string UnkPiece { get; init; } = "<unk>";
    public string BosPiece { get; init; } = "<s>";
    public string EosPiece { get; init; } = "</s>";
    public string UnkSurface { get; init; } = " \u2047 ";

    // NormalizerSpec.
    public string NormalizerName { get; init; } = "";
    public bool HasPrecompiledCharsmap { get; init; }
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    /// <summary>Parses a serialized ModelProto; <paramref name="path"/> names the file in error messages.</summary>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> data, string path)
    {
        try
        {
            return ParseProto(data);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{path}: not a valid SentencePiece model ({e.Message}).", e);
        }
    }

    private static SentencePieceModel ParseProto(ReadOnlySpan<byte> data)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        var trainer = new TrainerFields();
        var normalizer = new NormalizerFields();
        bool sawTrainer = false, sawNormalizer = false;
        var reader = new ProtoReader(data);
        while (reader.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1:
                    reader.Expect(field, wire, ProtoReader.LengthDelimited);
                    ReadPiece(reader.ReadBytes(), pieces, scores, types);
                    break;
                case 2:
                    reader.Expect(field, wire, ProtoReader.LengthDelimited);
                    trainer.Read(reader.ReadBytes());
                    sawTrainer = true;
                    break;
                case 3:
                    reader.Expect(field, wire, ProtoReader.LengthDelimited);
                    normalizer.Read(reader.ReadBytes());
                    sawNormalizer = true;
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
        if (pieces.Count == 0) throw new FormatException("it has no pieces");
        // A file cut at a field boundary still parses; SentencePiece writes the pieces, then the trainer spec, then the
        // normalizer spec, so a missing spec is how truncation shows (and without the normalizer the text rules are
        // unknown: its defaults would silently tokenize differently).
        if (!sawTrainer) throw new FormatException("it has no trainer_spec; the file may be truncated");
        if (!sawNormalizer) throw new FormatException("it has no normalizer_spec; the file may be truncated");
        var model = new SentencePieceModel
        {
            Pieces = [.. pieces], Scores = [.. scores], Types = [.. types],
            Kind = trainer.Kind, ByteFallback = trainer.ByteFallback,
            TreatWhitespaceAsSuffix = trainer.TreatWhitespaceAsSuffix,
            UnkPiece = trainer.UnkPiece, BosPiece = trainer.BosPiece, EosPiece = trainer.EosPiece,
            UnkSurface = trainer.UnkSurface,
            NormalizerName = normalizer.Name, HasPrecompiledCharsmap = normalizer.HasCharsmap,
            AddDummyPrefix = normalizer.AddDummyPrefix, RemoveExtraWhitespaces = normalizer.RemoveExtraWhitespaces,
            EscapeWhitespaces = normalizer.EscapeWhitespaces,
        };
        if (Array.IndexOf(model.Types, PieceType.Unknown) < 0) throw new FormatException("it has no <unk> piece");
        return model;
    }

    private static void ReadPiece(ReadOnlySpan<byte> data, List<string> pieces, List<float> scores, List<PieceType> types)
    {
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        var reader = new ProtoReader(data);
        while (reader.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1: reader.Expect(field, wire, ProtoReader.LengthDelimited); piece = reader.ReadString(); break;
                case 2: reader.Expect(field, wire, ProtoReader.Fixed32); score = reader.ReadFloat(); break;
                case 3:
                    reader.Expect(field, wire, ProtoReader.Varint);
                    ulong t = reader.ReadVarint();
                    if (t is < 1 or > 6) throw new FormatException($"piece {pieces.Count} has unknown type {t}");
                    type = (PieceType)t;
                    break;
                default: reader.Skip(wire); break;
            }
        }
        if (piece.Length == 0) throw new FormatException($"piece {pieces.Count} is empty");
        pieces.Add(piece);
        scores.Add(score);
        types.Add(type);
    }

    /// <summary>Serializes the model as a ModelProto, writing every field explicitly.</summary>
    public byte[] Serialize()
    {
        var model = new ProtoWriter();
        for (int i = 0; i < Pieces.Length; i++)
        {
            var piece = new ProtoWriter();
            piece.WriteString(1, Pieces[i]);
            piece.WriteFloat(2, Scores[i]);
            piece.WriteVarint(3, (int)Types[i]);
            model.WriteMessage(1, piece);
        }
        var trainer = new ProtoWriter();
        trainer.WriteVarint(3, (int)Kind);
        trainer.WriteVarint(4, Pieces.Length);
        trainer.WriteBool(24, TreatWhitespaceAsSuffix);
        trainer.WriteBool(35, ByteFallback);
        trainer.WriteVarint(40, IdOf(UnkPiece));
        trainer.WriteVarint(41, IdOf(BosPiece));
        trainer.WriteVarint(42, IdOf(EosPiece));
        trainer.WriteVarint(43, -1);
        trainer.WriteString(44, UnkSurface);
        trainer.WriteString(45, UnkPiece);
        trainer.WriteString(46, BosPiece);
        trainer.WriteString(47, EosPiece);
        model.WriteMessage(2, trainer);
        var normalizer = new ProtoWriter();
        normalizer.WriteString(1, NormalizerName);
        normalizer.WriteBool(3, AddDummyPrefix);
        normalizer.WriteBool(4, RemoveExtraWhitespaces);
        normalizer.WriteBool(5, EscapeWhitespaces);
        model.WriteMessage(3, normalizer);
        return model.ToArray();
    }

    private int IdOf(string piece) => Array.IndexOf(Pieces, piece);

    private sealed class TrainerFields
    {
        public ModelKind Kind = ModelKind.Unigram;
        public bool ByteFallback, TreatWhitespaceAsSuffix;
        public string UnkPiece = "<unk>", BosPiece = "<s>", EosPiece = "</s>", UnkSurface = " \u2047 ";

        public void Read(ReadOnlySpan<byte> data)
        {
            var reader = new ProtoReader(data);
            while (reader.TryReadTag(out int field, out int wire))
            {
                switch (field)
                {
                    case 3: reader.Expect(field, wire, ProtoReader.Varint); Kind = (ModelKind)reader.ReadVarint(); break;
                    case 24: reader.Expect(field, wire, ProtoReader.Varint); TreatWhitespaceAsSuffix = reader.ReadVarint() != 0; break;
                    case 35: reader.Expect(field, wire, ProtoReader.Varint); ByteFallback = reader.ReadVarint() != 0; break;
                    case 44: reader.Expect(field, wire, ProtoReader.LengthDelimited); UnkSurface = reader.ReadString(); break;
                    case 45: reader.Expect(field, wire, ProtoReader.LengthDelimited); UnkPiece = reader.ReadString(); break;
                    case 46: reader.Expect(field, wire, ProtoReader.LengthDelimited); BosPiece = reader.ReadString(); break;
                    case 47: reader.Expect(field, wire, ProtoReader.LengthDelimited); EosPiece = reader.ReadString(); break;
                    default: reader.Skip(wire); break;
                }
            }
        }
    }

    private sealed class NormalizerFields
    {
        public string Name = "";
        public bool HasCharsmap, AddDummyPrefix = true, RemoveExtraWhitespaces = true, EscapeWhitespaces = true;

        public void Read(ReadOnlySpan<byte> data)
        {
            var reader = new ProtoReader(data);
            while (reader.TryReadTag(out int field, out int wire))
            {
                switch (field)
                {
                    case 1: reader.Expect(field, wire, ProtoReader.LengthDelimited); Name = reader.ReadString(); break;
                    case 2: reader.Expect(field, wire, ProtoReader.LengthDelimited); HasCharsmap = reader.ReadBytes().Length > 0; break;
                    case 3: reader.Expect(field, wire, ProtoReader.Varint); AddDummyPrefix = reader.ReadVarint() != 0; break;
                    case 4: reader.Expect(field, wire, ProtoReader.Varint); RemoveExtraWhitespaces = reader.ReadVarint() != 0; break;
                    case 5: reader.Expect(field, wire, ProtoReader.Varint); EscapeWhitespaces = reader.ReadVarint() != 0; break;
                    default: reader.Skip(wire); break;
                }
            }
        }
    }
}
