import Testing
@testable import NFIT
import TestSupport

@Suite struct ModelTests {
    @Test func deviceHandleBitLayoutFollowsACPI() {
        // node 0xABC, socket 0x5, controller 0x3, channel 0x9, DIMM 0x1, reserved bits 0x7.
        let h = NFITDeviceHandle(rawValue: 0x7ABC_5391)
        #expect(h.dimmNumber == 0x1)
        #expect(h.memoryChannel == 0x9)
        #expect(h.memoryController == 0x3)
        #expect(h.socket == 0x5)
        #expect(h.nodeController == 0xABC)
        #expect(h.reservedBits == 0x7)
        #expect(NFITDeviceHandle(dimm: 1, channel: 9, controller: 3, socket: 5, node: 0xABC).rawValue == 0x0ABC_5391)
        #expect(NFITDeviceHandle(dimm: 0x11, channel: 0, controller: 0, socket: 0, node: 0x1001).rawValue == 0x0001_0001)
        #expect(h.description == "0x7abc5391")
    }

    @Test func guidTextAndTableBytes() throws {
        let g = try #require(NFITGUID("66f0d379-b4f3-4074-ac43-0d3318b78cdb"))
        #expect(g.bytes == [0x79, 0xD3, 0xF0, 0x66, 0xF3, 0xB4, 0x74, 0x40, 0xAC, 0x43, 0x0D, 0x33, 0x18, 0xB7, 0x8C, 0xDB])
        #expect(g.description == "66F0D379-B4F3-4074-AC43-0D3318B78CDB")
        #expect(NFITGUID("66F0D379-B4F3-4074-AC43-0D3318B78CD") == nil)
        #expect(NFITGUID("66F0D379-B4F3-4074-AC43-0D3318B78CDX") == nil)
        #expect(NFITGUID("66F0D379B4F3-4074-AC43-0D3318B78CDB0") == nil)
    }

    @Test func spaRangeTypesByGUID() throws {
        let all: [NFITSPARangeType] = [.volatileMemory, .persistentMemory, .controlRegion, .blockDataWindow,
                                       .volatileVirtualDisk, .volatileVirtualCD, .persistentVirtualDisk, .persistentVirtualCD]
        #expect(Set(all.map(\.guid)).count == all.count)
        for t in all { #expect(NFITSPARangeType(guid: t.guid) == t) }
        #expect(NFITSPARangeType.persistentMemory.guid.description == "66F0D379-B4F3-4074-AC43-0D3318B78CDB")
        #expect(NFITSPARangeType.volatileMemory.guid.description == "7305944F-FDDA-44E3-B16C-3F22D252E5D0")
        #expect(NFITSPARangeType.controlRegion.guid.description == "92F701F6-13B4-405D-910B-299367E8234C")
        #expect(NFITSPARangeType.blockDataWindow.guid.description == "91AF0530-5D86-470E-A6B0-0A2DB9408249")
        let odd = NFITGUID(bytes: Array(repeating: 0xEE, count: 16))
        #expect(NFITSPARangeType(guid: odd) == .unknown(odd))
        #expect(NFITSPARangeType(guid: odd).guid == odd)
    }

    @Test func memoryDeviceStateFlags() {
        let f = NFITMemoryDeviceFlags(rawValue: 0x7F | 0x100)
        for (flag, _) in NFITMemoryDeviceFlags.names { #expect(f.contains(flag)) }
        #expect(NFITMemoryDeviceFlags.names.map(\.0.rawValue) == [1, 2, 4, 8, 16, 32, 64])
        #expect(NFITMemoryDeviceFlags.notArmed.rawValue == 8 && NFITMemoryDeviceFlags.mapFailed.rawValue == 64)
        #expect(f.rawValue == 0x17F)  // unnamed bits are kept
    }

    @Test func platformCapabilitiesAreMaskedByHighestCapability() {
        let p = NFITPlatformCapabilities(highestCapability: 0, capabilities: NFITPlatformCapabilityFlags(rawValue: 0x7))
        #expect(p.effectiveCapabilities == [.cpuCacheFlushOnPowerLoss])
        let q = NFITPlatformCapabilities(highestCapability: 2, capabilities: [.memoryControllerFlushOnPowerLoss, .memoryMirroring])
        #expect(q.effectiveCapabilities == [.memoryControllerFlushOnPowerLoss, .memoryMirroring])
        let r = NFITPlatformCapabilities(highestCapability: 255, capabilities: NFITPlatformCapabilityFlags(rawValue: .max))
        #expect(r.effectiveCapabilities.rawValue == .max)
    }

    @Test func identifiersArePaddedAndKeptExactly() {
        #expect(ACPIIdentifier("INTEL", width: 6).bytes == Array("INTEL ".utf8))
        #expect(ACPIIdentifier("TOOLONGNAME", width: 8).bytes == Array("TOOLONGN".utf8))
        #expect(ACPIIdentifier(bytes: [0x41, 0x00, 0xff, 0x5c], width: 4).description == #"A\x00\xff\x5c"#)
    }

    @Test func flushHintAddressesPerHandleInTableOrder() throws {
        let table = try NFITTable.decode(try Support.compiledFixture("multi-dimm")).table
        #expect(table.flushHintAddresses == [
            0x1001: [0xFEE0_0000, 0xFEE0_0040, 0xFEE0_0080],
            0x1011: [0xFEE0_1000, 0xFEE0_1040, 0xFEE0_1080],
            0x1_0101: [],
        ])
        // DIMM 0x1101 is mapped but has no flush hint structure.
        #expect(table.dimmHandles.map(\.rawValue) == [0x1001, 0x1011, 0x1101, 0x1_0101])
        #expect(table.flushHintAddresses[0x1101] == nil)
        let unmapped = try #require(table.memoryDeviceMaps.last)
        #expect(unmapped.rangeIndex == 0 && unmapped.flags == [.mapFailed])
        #expect(table.memoryDeviceMaps[2].flags == [.notArmed, .smartEventsObserved])
        #expect(table.platformCapabilities?.effectiveCapabilities == [.cpuCacheFlushOnPowerLoss, .memoryControllerFlushOnPowerLoss])
    }

    @Test func encoderRejectsValuesThatDoNotFit() {
        let hints = NFITTable(subtables: [.flushHintAddress(NFITFlushHintAddress(
            deviceHandle: .init(rawValue: 1), hintAddresses: Array(repeating: 0, count: 70_000)))])
        #expect(throws: NFITEncodeError.self) { try hints.encode() }
        let long = NFITTable(subtables: [.smbiosManagementInformation(NFITSMBIOSManagementInformation(data: Array(repeating: 0, count: 70_000)))])
        do {
            _ = try long.encode()
            Issue.record("a 70000-byte structure encoded")
        } catch {
            #expect(error.description == #"cannot encode subtable 0: field "length" = 70008 exceeds 65535"#)
        }
    }

    @Test func sealedTablesRoundTrip() throws {
        let table = try IaslTests.everyType.sealed()
        let bytes = try table.encode()
        #expect(Int(table.header.length) == bytes.count)
        #expect(table.header.checksum == bytes[9])
        #expect(try NFITTable.decode(bytes).table == table)
    }
}
