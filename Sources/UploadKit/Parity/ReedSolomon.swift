import CISAL

/// A systematic Reed-Solomon code over GF(2^8) (ISA-L's, polynomial 0x11D)
/// with `k` data and `m` parity shards per stripe: the generator is ISA-L's
/// `gf_gen_cauchy1_matrix(k + m, k)`, the identity on top of `m` Cauchy
/// rows, every `k x k` submatrix of which is invertible, so any `k` intact
/// shards of a stripe rebuild the other `m`.
///
/// Shards of a stripe are numbered `0..<k` (data, by row) then `k..<k+m`
/// (parity). The coding itself is ISA-L's `ec_encode_data` and
/// `ec_encode_data_update`, which work on any length and alignment.
struct ReedSolomonCode: Sendable {
    let dataShards: Int
    let parityShards: Int
    /// `(k + m) x k`, row-major.
    let matrix: [UInt8]

    init(dataShards: Int, parityShards: Int) {
        precondition(dataShards >= 1 && parityShards >= 1 && dataShards + parityShards <= 256, "a Cauchy code over GF(2^8) has at most 256 shards")
        var generator = [UInt8](repeating: 0, count: (dataShards + parityShards) * dataShards)
        generator.withUnsafeMutableBufferPointer { buffer in
            gf_gen_cauchy1_matrix(buffer.baseAddress, Int32(dataShards + parityShards), Int32(dataShards))
        }
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.matrix = generator
    }

    /// The `m x k` coefficients that make the parity shards from the data.
    var parityRows: [UInt8] { Array(matrix[(dataShards * dataShards)...]) }

    /// The coefficients (`wanted.count x k`) that rebuild shards `wanted`
    /// from the `k` intact shards `sources` (each list by shard number, in
    /// the order the buffers are passed); nil if those rows are singular,
    /// which a Cauchy generator rules out.
    func decodingRows(sources: [Int], wanted: [Int]) -> [UInt8]? {
        let k = dataShards
        precondition(sources.count == k, "rebuilding needs exactly k sources")
        var rows = [UInt8]()
        rows.reserveCapacity(k * k)
        for source in sources { rows += matrix[(source * k)..<((source + 1) * k)] }
        var inverse = [UInt8](repeating: 0, count: k * k)
        let status = rows.withUnsafeMutableBufferPointer { input in
            inverse.withUnsafeMutableBufferPointer { output in
                gf_invert_matrix(input.baseAddress, output.baseAddress, Int32(k))
            }
        }
        guard status == 0 else { return nil }
        // The sources are `B * data`, so `data = B^-1 * sources`: a data
        // shard's row is its row of the inverse, a parity shard's is its
        // generator row times the inverse.
        var result = [UInt8]()
        result.reserveCapacity(wanted.count * k)
        for shard in wanted {
            if shard < k {
                result += inverse[(shard * k)..<((shard + 1) * k)]
            } else {
                for column in 0..<k {
                    var sum: UInt8 = 0
                    for j in 0..<k { sum ^= gf_mul(matrix[shard * k + j], inverse[j * k + column]) }
                    result.append(sum)
                }
            }
        }
        return result
    }
}

/// ISA-L's expanded multiplication tables for a set of coefficient rows
/// (32 bytes per coefficient), as `ec_encode_data` and
/// `ec_encode_data_update` take them.
final class GaloisTables {
    let dataShards: Int
    let rows: Int
    let pointer: UnsafeMutablePointer<UInt8>

    /// `coefficients`: `rows x dataShards`, row-major.
    init(dataShards: Int, coefficients: [UInt8]) {
        precondition(dataShards >= 1 && !coefficients.isEmpty && coefficients.count % dataShards == 0, "whole rows of coefficients")
        let rows = coefficients.count / dataShards
        let tables = UnsafeMutablePointer<UInt8>.allocate(capacity: 32 * dataShards * rows)
        tables.initialize(repeating: 0, count: 32 * dataShards * rows)
        var input = coefficients
        input.withUnsafeMutableBufferPointer { buffer in
            ec_init_tables(Int32(dataShards), Int32(rows), buffer.baseAddress, tables)
        }
        self.dataShards = dataShards
        self.rows = rows
        self.pointer = tables
    }

    deinit { pointer.deallocate() }

    var byteCount: Int { 32 * dataShards * rows }

    /// Adds `length` bytes of data shard `row` (`source`) into each of the
    /// `rows` outputs at `outputs` (each `length` bytes from its pointer).
    func update(length: Int, row: Int, source: UnsafeRawPointer, outputs: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) {
        guard length > 0 else { return }
        ec_encode_data_update(
            Int32(length), Int32(dataShards), Int32(rows), Int32(row), pointer,
            UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: UInt8.self)), outputs)
    }

    /// Writes into the `rows` outputs the products of these rows with the
    /// `dataShards` sources, `length` bytes each.
    func encode(
        length: Int, sources: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, outputs: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>
    ) {
        guard length > 0 else { return }
        ec_encode_data(Int32(length), Int32(dataShards), Int32(rows), pointer, sources, outputs)
    }
}
