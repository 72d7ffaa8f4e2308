/*
 * flushctl NFIT test fixture (iasl data table source: iasl -p OUT file.asl).
 * Three SPA ranges (2 pmem, 1 volatile), 4 DIMMs; DIMM 0x1101 has no flush hint structure, 0x10101 is unmapped with zero hints.
 * Format: [ByteLength]  FieldName : HexFieldValue
 */
[0004]                          Signature : "NFIT"    [NVDIMM Firmware Interface Table]
[0004]                       Table Length : 00000384
[0001]                           Revision : 01
[0001]                           Checksum : 00
[0006]                             Oem ID : "ACME  "
[0008]                       Oem Table ID : "MULTIDIM"
[0004]                       Oem Revision : 20261125
[0004]                    Asl Compiler ID : "INTL"
[0004]              Asl Compiler Revision : 00000000

[0004]                           Reserved : 00000000

[0002]                      Subtable Type : 0000 [System Physical Address Range]
[0002]                             Length : 0038

[0002]                        Range Index : 0001
[0002]              Flags (decoded below) : 0002
                          Add/Online Operation Only : 0
                             Proximity Domain Valid : 1
[0004]                           Reserved : 00000000
[0004]                   Proximity Domain : 00000000
[0016]                   Region Type GUID : 66F0D379-B4F3-4074-AC43-0D3318B78CDB
[0008]                 Address Range Base : 0000000240000000
[0008]               Address Range Length : 0000000100000000
[0008]               Memory Map Attribute : 0000000000008008

[0002]                      Subtable Type : 0000 [System Physical Address Range]
[0002]                             Length : 0038

[0002]                        Range Index : 0002
[0002]              Flags (decoded below) : 0002
                          Add/Online Operation Only : 0
                             Proximity Domain Valid : 1
[0004]                           Reserved : 00000000
[0004]                   Proximity Domain : 00000001
[0016]                   Region Type GUID : 66F0D379-B4F3-4074-AC43-0D3318B78CDB
[0008]                 Address Range Base : 0000000340000000
[0008]               Address Range Length : 0000000040000000
[0008]               Memory Map Attribute : 0000000000008008

[0002]                      Subtable Type : 0000 [System Physical Address Range]
[0002]                             Length : 0038

[0002]                        Range Index : 0003
[0002]              Flags (decoded below) : 0000
                          Add/Online Operation Only : 0
                             Proximity Domain Valid : 0
[0004]                           Reserved : 00000000
[0004]                   Proximity Domain : 00000000
[0016]                   Region Type GUID : 7305944F-FDDA-44E3-B16C-3F22D252E5D0
[0008]                 Address Range Base : 0000000380000000
[0008]               Address Range Length : 0000000010000000
[0008]               Memory Map Attribute : 0000000000000008

[0002]                      Subtable Type : 0001 [Memory Range Map]
[0002]                             Length : 0030

[0004]                      Device Handle : 00001001
[0002]                        Physical Id : 0010
[0002]                          Region Id : 0000
[0002]                        Range Index : 0001
[0002]               Control Region Index : 0001
[0008]                        Region Size : 0000000080000000
[0008]                      Region Offset : 0000000000000000
[0008]                Address Region Base : 0000000000000000
[0002]                   Interleave Index : 0001
[0002]                    Interleave Ways : 0002
[0002]                              Flags : 0000
                              Save to device failed : 0
                         Restore from device failed : 0
                              Platform flush failed : 0
                                   Device not armed : 0
                             Health events observed : 0
                              Health events enabled : 0
                                     Mapping failed : 0
[0002]                           Reserved : 0000

[0002]                      Subtable Type : 0001 [Memory Range Map]
[0002]                             Length : 0030

[0004]                      Device Handle : 00001011
[0002]                        Physical Id : 0011
[0002]                          Region Id : 0000
[0002]                        Range Index : 0001
[0002]               Control Region Index : 0002
[0008]                        Region Size : 0000000080000000
[0008]                      Region Offset : 0000000000001000
[0008]                Address Region Base : 0000000000000000
[0002]                   Interleave Index : 0001
[0002]                    Interleave Ways : 0002
[0002]                              Flags : 0020
                              Save to device failed : 0
                         Restore from device failed : 0
                              Platform flush failed : 0
                                   Device not armed : 0
                             Health events observed : 0
                              Health events enabled : 1
                                     Mapping failed : 0
[0002]                           Reserved : 0000

[0002]                      Subtable Type : 0001 [Memory Range Map]
[0002]                             Length : 0030

[0004]                      Device Handle : 00001101
[0002]                        Physical Id : 0012
[0002]                          Region Id : 0000
[0002]                        Range Index : 0002
[0002]               Control Region Index : 0003
[0008]                        Region Size : 0000000040000000
[0008]                      Region Offset : 0000000000000000
[0008]                Address Region Base : 0000000000000000
[0002]                   Interleave Index : 0000
[0002]                    Interleave Ways : 0001
[0002]                              Flags : 0018
                              Save to device failed : 0
                         Restore from device failed : 0
                              Platform flush failed : 0
                                   Device not armed : 1
                             Health events observed : 1
                              Health events enabled : 0
                                     Mapping failed : 0
[0002]                           Reserved : 0000

[0002]                      Subtable Type : 0001 [Memory Range Map]
[0002]                             Length : 0030

[0004]                      Device Handle : 00001001
[0002]                        Physical Id : 0010
[0002]                          Region Id : 0001
[0002]                        Range Index : 0003
[0002]               Control Region Index : 0001
[0008]                        Region Size : 0000000010000000
[0008]                      Region Offset : 0000000000000000
[0008]                Address Region Base : 0000000080000000
[0002]                   Interleave Index : 0000
[0002]                    Interleave Ways : 0001
[0002]                              Flags : 0000
                              Save to device failed : 0
                         Restore from device failed : 0
                              Platform flush failed : 0
                                   Device not armed : 0
                             Health events observed : 0
                              Health events enabled : 0
                                     Mapping failed : 0
[0002]                           Reserved : 0000

[0002]                      Subtable Type : 0001 [Memory Range Map]
[0002]                             Length : 0030

[0004]                      Device Handle : 00010101
[0002]                        Physical Id : 0013
[0002]                          Region Id : 0000
[0002]                        Range Index : 0000
[0002]               Control Region Index : 0004
[0008]                        Region Size : 0000000000000000
[0008]                      Region Offset : 0000000000000000
[0008]                Address Region Base : 0000000000000000
[0002]                   Interleave Index : 0000
[0002]                    Interleave Ways : 0001
[0002]                              Flags : 0040
                              Save to device failed : 0
                         Restore from device failed : 0
                              Platform flush failed : 0
                                   Device not armed : 0
                             Health events observed : 0
                              Health events enabled : 0
                                     Mapping failed : 1
[0002]                           Reserved : 0000

[0002]                      Subtable Type : 0002 [Interleave Info]
[0002]                             Length : 0014

[0002]                   Interleave Index : 0001
[0002]                           Reserved : 0000
[0004]                         Line Count : 00000001
[0004]                          Line Size : 00001000
[0004]                        Line Offset : 00000000

[0002]                      Subtable Type : 0004 [NVDIMM Control Region]
[0002]                             Length : 0050

[0002]                       Region Index : 0001
[0002]                          Vendor Id : 8086
[0002]                          Device Id : 0979
[0002]                        Revision Id : 0201
[0002]                Subsystem Vendor Id : 8086
[0002]                Subsystem Device Id : 0979
[0002]              Subsystem Revision Id : 0201
[0001]                       Valid Fields : 01
[0001]             Manufacturing Location : 42
[0002]                 Manufacturing Date : 2418
[0002]                           Reserved : 0000
[0004]                      Serial Number : 12345678
[0002]                               Code : 0201
[0002]                       Window Count : 0000
[0008]                        Window Size : 0000000000000000
[0008]                     Command Offset : 0000000000000000
[0008]                       Command Size : 0000000000000000
[0008]                      Status Offset : 0000000000000000
[0008]                        Status Size : 0000000000000000
[0002]                              Flags : 0000
                                   Windows buffered : 0
[0006]                          Reserved1 : 000000000000

[0002]                      Subtable Type : 0004 [NVDIMM Control Region]
[0002]                             Length : 0050

[0002]                       Region Index : 0002
[0002]                          Vendor Id : 8086
[0002]                          Device Id : 0979
[0002]                        Revision Id : 0201
[0002]                Subsystem Vendor Id : 8086
[0002]                Subsystem Device Id : 0979
[0002]              Subsystem Revision Id : 0201
[0001]                       Valid Fields : 01
[0001]             Manufacturing Location : 42
[0002]                 Manufacturing Date : 2418
[0002]                           Reserved : 0000
[0004]                      Serial Number : 12345679
[0002]                               Code : 0201
[0002]                       Window Count : 0000
[0008]                        Window Size : 0000000000000000
[0008]                     Command Offset : 0000000000000000
[0008]                       Command Size : 0000000000000000
[0008]                      Status Offset : 0000000000000000
[0008]                        Status Size : 0000000000000000
[0002]                              Flags : 0000
                                   Windows buffered : 0
[0006]                          Reserved1 : 000000000000

[0002]                      Subtable Type : 0004 [NVDIMM Control Region]
[0002]                             Length : 0050

[0002]                       Region Index : 0003
[0002]                          Vendor Id : 1C5C
[0002]                          Device Id : 0001
[0002]                        Revision Id : 0001
[0002]                Subsystem Vendor Id : 1C5C
[0002]                Subsystem Device Id : 0001
[0002]              Subsystem Revision Id : 0001
[0001]                       Valid Fields : 00
[0001]             Manufacturing Location : 00
[0002]                 Manufacturing Date : 0000
[0002]                           Reserved : 0000
[0004]                      Serial Number : AABBCCDD
[0002]                               Code : 0301
[0002]                       Window Count : 0000
[0008]                        Window Size : 0000000000000000
[0008]                     Command Offset : 0000000000000000
[0008]                       Command Size : 0000000000000000
[0008]                      Status Offset : 0000000000000000
[0008]                        Status Size : 0000000000000000
[0002]                              Flags : 0000
                                   Windows buffered : 0
[0006]                          Reserved1 : 000000000000

[0002]                      Subtable Type : 0004 [NVDIMM Control Region]
[0002]                             Length : 0050

[0002]                       Region Index : 0004
[0002]                          Vendor Id : 1C5C
[0002]                          Device Id : 0001
[0002]                        Revision Id : 0001
[0002]                Subsystem Vendor Id : 1C5C
[0002]                Subsystem Device Id : 0001
[0002]              Subsystem Revision Id : 0001
[0001]                       Valid Fields : 00
[0001]             Manufacturing Location : 00
[0002]                 Manufacturing Date : 0000
[0002]                           Reserved : 0000
[0004]                      Serial Number : AABBCCDE
[0002]                               Code : 0301
[0002]                       Window Count : 0000
[0008]                        Window Size : 0000000000000000
[0008]                     Command Offset : 0000000000000000
[0008]                       Command Size : 0000000000000000
[0008]                      Status Offset : 0000000000000000
[0008]                        Status Size : 0000000000000000
[0002]                              Flags : 0000
                                   Windows buffered : 0
[0006]                          Reserved1 : 000000000000

[0002]                      Subtable Type : 0006 [Flush Hint Address]
[0002]                             Length : 0028

[0004]                      Device Handle : 00001001
[0002]                         Hint Count : 0003
[0006]                           Reserved : 000000000000
[0008]                       Hint Address : 00000000FEE00000
[0008]                       Hint Address : 00000000FEE00040
[0008]                       Hint Address : 00000000FEE00080

[0002]                      Subtable Type : 0006 [Flush Hint Address]
[0002]                             Length : 0028

[0004]                      Device Handle : 00001011
[0002]                         Hint Count : 0003
[0006]                           Reserved : 000000000000
[0008]                       Hint Address : 00000000FEE01000
[0008]                       Hint Address : 00000000FEE01040
[0008]                       Hint Address : 00000000FEE01080

[0002]                      Subtable Type : 0006 [Flush Hint Address]
[0002]                             Length : 0010

[0004]                      Device Handle : 00010101
[0002]                         Hint Count : 0000
[0006]                           Reserved : 000000000000

[0002]                      Subtable Type : 0007 [Platform Capabilities]
[0002]                             Length : 0010

[0001]                 Highest Capability : 02
[0003]                           Reserved : 000000
[0004]       Capabilities (decoded below) : 00000003
                              Cache Flush to NVDIMM : 1
                             Memory Flush to NVDIMM : 1
                                   Memory Mirroring : 0
[0004]                           Reserved : 00000000

