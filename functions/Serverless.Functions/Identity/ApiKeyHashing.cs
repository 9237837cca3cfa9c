using System.Security.Cryptography;
using System.Text;

namespace Serverless.Functions.Identity;

/// <summary>
/// API key secrets and their hashes. A generated key is 256 random bits; only its SHA-256 is stored.
/// </summary>
/// <remarks>
/// A slow password KDF (PBKDF2, Argon2) defends low-entropy secrets against guessing. These keys are
/// 256-bit random values, so a single SHA-256 is already infeasible to invert or brute-force, and a
/// fast hash keeps per-request authentication cheap. The key id is the first 16 hex digits of the
/// hash, so a presented key is found with one point read and then compared in constant time.
/// Configured keys (<c>Bootstrap:AdminApiKey</c>) must be at least 32 characters for the same reason.
/// </remarks>
public static class ApiKeyHashing
{
    /// <summary>Generated keys start with this, so leaked keys are easy to recognise by secret scanners.</summary>
    public const string Prefix = "ak_";

    public const int MinimumConfiguredLength = 32;

    public static string Generate() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>The lookup id of a key: a prefix of its hash (64 bits; collisions only cost a retry at creation).</summary>
    public static string KeyId(byte[] hash) => Convert.ToHexStringLower(hash.AsSpan(0, 8));

    public static bool Matches(byte[] presentedHash, string storedHashHex)
    {
        ArgumentNullException.ThrowIfNull(presentedHash);
        byte[] stored;
        try
        {
            stored = Convert.FromHexString(storedHashHex);
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(presentedHash, stored);
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
