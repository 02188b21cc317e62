import Crypto
import HubModel

extension AuthRandom {
    /// Lower-case hex SHA-256 of `text` (how refresh tokens are stored).
    package static func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Array(text.utf8))) }
}
