using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Serverless.Core.Exports.Zip;

/// <summary>
/// CRC-32 (ISO-HDLC, the ZIP and gzip polynomial), slicing-by-8. Our own because System.IO.Hashing
/// would be a new package for one function and the BCL's copy is internal.
/// </summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>Continues a CRC over more bytes; start from 0.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        ref var t = ref MemoryMarshal.GetArrayDataReference(Table);
        crc = ~crc;
        while (data.Length >= 8)
        {
            var one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = Unsafe.Add(ref t, (7 * 256) + (int)(one & 0xFF))
                ^ Unsafe.Add(ref t, (6 * 256) + (int)((one >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, (5 * 256) + (int)((one >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (4 * 256) + (int)(one >> 24))
                ^ Unsafe.Add(ref t, (3 * 256) + (int)(two & 0xFF))
                ^ Unsafe.Add(ref t, (2 * 256) + (int)((two >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, 256 + (int)((two >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (int)(two >> 24));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = Unsafe.Add(ref t, (int)((crc ^ b) & 0xFF)) ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        for (var slice = 1; slice < 8; slice++)
        {
            for (var i = 0; i < 256; i++)
            {
                var previous = table[((slice - 1) * 256) + i];
                table[(slice * 256) + i] = (previous >> 8) ^ table[previous & 0xFF];
            }
        }

        return table;
    }
}
