// The lab's DNS server answers like a real authoritative one where the mail daemons notice.
import { answer, outsideRecords } from "../lab/world/dns";

/** A query for `name` of type `qtype`, with an EDNS OPT record as rspamd's resolver sends it. */
function query(name: string, qtype: number): Buffer {
    const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    const qname = Buffer.concat([
        ...name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
        Buffer.from([0]),
    ]);
    const tail = Buffer.from([qtype >> 8, qtype & 0xff, 0, 1]);
    const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    return Buffer.concat([header, qname, tail, opt]);
}

const counts = (reply: Buffer) => ({
    rcode: reply.readUInt16BE(2) & 0xf,
    answers: reply.readUInt16BE(6),
    authority: reply.readUInt16BE(8),
});

describe("lab DNS", () => {
    const records = outsideRecords();

    test("an answer carries the records and no authority section", () => {
        expect(counts(answer(records, query("sink.test", 16), 512)!)).toEqual({ rcode: 0, answers: 1, authority: 0 });
    });

    // rspamd's resolver retries a bare NOERROR without answers until its timeout (5 s per
    // scan in the lab, found by filter.test.ts); a real server adds the zone's SOA (RFC 2308).
    test("a name without a record of that type (NODATA) and an unknown name (NXDOMAIN) carry the zone's SOA", () => {
        const nodata = answer(records, query("sink.test", 1), 512)!;
        expect(counts(nodata)).toEqual({ rcode: 0, answers: 0, authority: 1 });
        expect(counts(answer(records, query("nowhere.sink.test", 1), 512)!)).toEqual({
            rcode: 3,
            answers: 0,
            authority: 1,
        });
        // The authority record is an SOA (type 6) owned by the zone sink.test.
        const question = query("sink.test", 1).length - 11 - 12; // without header and OPT
        const auth = nodata.subarray(12 + question);
        const owner = Buffer.concat([
            Buffer.from([4]),
            Buffer.from("sink"),
            Buffer.from([4]),
            Buffer.from("test"),
            Buffer.from([0]),
        ]);
        expect(auth.subarray(0, owner.length)).toEqual(owner);
        expect(auth.readUInt16BE(owner.length)).toBe(6);
    });
});
