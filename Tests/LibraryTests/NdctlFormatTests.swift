import Testing
import NVDIMMTopology

@Suite struct NdctlFormatTests {
    // Expected values worked out by hand from ndctl's display_size():
    //   centi-binary = (bytes * 200 / unit + 1) / 2, centi-decimal = (bytes / (unit / 200) + 1) / 2.
    @Test func sizesBelow5000KiBStayNumbers() {
        #expect(NdctlFormat.humanSize(0) == nil)
        #expect(NdctlFormat.humanSize(4096) == nil)
        #expect(NdctlFormat.humanSize(5000 * 1024 - 1) == nil)
    }

    @Test func mebibytesBelowTwoGiB() {
        // 5000 KiB = 5120000 B: 5120000*200/1048576 = 976 -> (976+1)/2 = 488 -> 4.88 MiB;
        // 5120000/5000 = 1024 -> (1024+1)/2 = 512 -> 5.12 MB.
        #expect(NdctlFormat.humanSize(5000 * 1024) == "4.88 MiB (5.12 MB)")
        // 32 MiB: 6400 -> 3200 centi = 32.00 MiB; 33554432/5000 = 6710 -> 3355 = 33.55 MB.
        #expect(NdctlFormat.humanSize(32 << 20) == "32.00 MiB (33.55 MB)")
        // 2 GiB - 1: 409599 -> 204800 = 2048.00 MiB; 429496 -> 214748 = 2147.48 MB.
        #expect(NdctlFormat.humanSize((2 << 30) - 1) == "2048.00 MiB (2147.48 MB)")
    }

    @Test func gibibytesBelowTwoTiB() {
        #expect(NdctlFormat.humanSize(2 << 30) == "2.00 GiB (2.15 GB)")
        // The example in ndctl's documentation.
        #expect(NdctlFormat.humanSize(126 << 30) == "126.00 GiB (135.29 GB)")
        // 0x1f000000 = 520093696 (below 2 GiB): 99200 -> 49600 = 496.00 MiB; 104018 -> 52009 = 520.09 MB.
        #expect(NdctlFormat.humanSize(0x1f000000) == "496.00 MiB (520.09 MB)")
    }

    @Test func tebibytesFromTwoTiB() {
        // 2 TiB: 400 -> 200 = 2.00 TiB; 2199023255552/5000000000 = 439 -> 220 = 2.20 TB.
        #expect(NdctlFormat.humanSize(2 << 40) == "2.00 TiB (2.20 TB)")
        #expect(NdctlFormat.humanSize(3 << 40 + 1 << 39) == "3.50 TiB (3.85 TB)")
    }

    @Test func hexIsPrintfSharpX() {
        #expect(NdctlFormat.hex(0) == "0")
        #expect(NdctlFormat.hex(0x101) == "0x101")
        #expect(NdctlFormat.hex(UInt64.max) == "0xffffffffffffffff")
    }
}
