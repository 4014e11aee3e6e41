using System.Buffers.Binary;
using System.Text;

namespace CtcDrafter.Text;

/// <summary>Reads the protobuf wire format (varint, fixed32, fixed64, length-delimited); throws
/// <see cref="FormatException"/> on truncated or malformed input.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> data = data;
    private int pos;

    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    /// <summary>The offset of the next unread byte.</summary>
    public readonly int Position => pos;

    public bool TryReadTag(out int field, out int wireType)
    {
        if (pos >= data.Length)
        {
            field = wireType = 0;
            return false;
        }
        ulong tag = ReadVarint();
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        if (field <= 0 || tag >> 3 > int.MaxValue)
            throw new FormatException($"invalid field number at byte {pos}");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length) throw new FormatException("truncated varint");
            byte b = data[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new FormatException($"varint longer than 10 bytes at byte {pos}");
    }

    public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(data.Length - pos))
            throw new FormatException($"length {length} at byte {pos} runs past the end of the data");
        return Take((int)length);
    }

    public string ReadString() => Encoding.UTF8.GetString(ReadBytes());

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint: ReadVarint(); break;
            case Fixed64: Take(8); break;
            case LengthDelimited: ReadBytes(); break;
            case Fixed32: Take(4); break;
            default: throw new FormatException($"unsupported wire type {wireType} at byte {pos}");
        }
    }

    /// <summary>Checks that a field has the wire type its schema gives it.</summary>
    public readonly void Expect(int field, int wireType, int expected)
    {
        if (wireType != expected)
            throw new FormatException($"field {field} has wire type {wireType}, expected {expected}");
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > data.Length - pos) throw new FormatException("unexpected end of data");
        var span = data.Slice(pos, count);
        pos += count;
        return span;
    }
}

/// <summary>Writes protobuf fields in the order they are added.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream buffer = new();

    public void WriteVarint(int field, long value)
    {
        WriteRawVarint((ulong)field << 3 | ProtoReader.Varint);
        WriteRawVarint((ulong)value); // negative int32 values are sign-extended to ten bytes, as protobuf does
    }

    public void WriteBool(int field, bool value) => WriteVarint(field, value ? 1 : 0);

    public void WriteFloat(int field, float value)
    {
        WriteRawVarint((ulong)field << 3 | ProtoReader.Fixed32);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        buffer.Write(bytes);
    }

    public void WriteString(int field, string value) => WriteBytes(field, Encoding.UTF8.GetBytes(value));

    public void WriteMessage(int field, ProtoWriter message) => WriteBytes(field, message.ToArray());

    public byte[] ToArray() => buffer.ToArray();

    private void WriteBytes(int field, ReadOnlySpan<byte> bytes)
    {
        WriteRawVarint((ulong)field << 3 | ProtoReader.LengthDelimited);
        WriteRawVarint((ulong)bytes.Length);
        buffer.Write(bytes);
    }

    private void WriteRawVarint(ulong value)
    {
        while (value >= 0x80)
        {
            buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        buffer.WriteByte((byte)value);
    }
}
