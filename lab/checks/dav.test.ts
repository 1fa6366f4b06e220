// Calendars and contacts (mailstack:dav, issue 32), as a phone or Thunderbird finds and uses
// them from an address and a password: RFC 6764 discovery through the lab DNS, an event and a
// contact made, read and deleted, nobody else's collections readable, a wrong password and a
// malformed event refused, the Apple profile's accounts logging in, fail2ban counting a
// guesser by its own address. First through real client libraries (Debian's python3-caldav
// and vdirsyncer, lab/clients/dav_clients.py), then through lab/clients/dav.ts's own requests for what a
// library hides (status codes, headers, the well-known redirect, a malformed object).
import assert from "node:assert/strict";
import { test } from "node:test";
import { appleProfileUrl } from "../../render/host/client-config";
import { DAV_PATH } from "../../model";
import { account, davRequest, discover, propfind, putObject, realClients, vcard, vevent } from "../clients/dav";
import { LAB_PASSWORDS, labSpec } from "../lab-config";
import { parsePlist, type PlistValue } from "../clients/plist";
import { ssh, tag } from "./helpers";

const ALICE = { user: "alice@example.org", pass: LAB_PASSWORDS["alice@example.org"] };
const BOB = { user: "bob@example.org", pass: LAB_PASSWORDS["bob@example.org"] };
const HOST = labSpec().hostname;

void test("Real clients with alice's address alone: python3-caldav (SRV and TXT path) makes, reads and deletes an event, vdirsyncer (SRV host, well-known) a contact; bob is refused her calendar, event and address book; a wrong password is Unauthorized", async (t) => {
    const { seen, steps } = await realClients(ALICE, BOB);
    t.diagnostic(steps);
    const info = JSON.stringify(seen, null, 1);
    // caldav 0.11 takes a URL: the script found it as RFC 6764 says (SRV, then TXT path).
    assert.equal(seen.caldavContext, `https://${HOST}${DAV_PATH}`, info);
    assert.equal(decodeURIComponent(seen.principal), `https://${HOST}${DAV_PATH}${ALICE.user}/`, info);
    assert.equal(seen.calendars.length, 1, info);
    assert.match(seen.eventReadBack, /^SUMMARY:New Year's Eve\r?$/m, info);
    assert.ok(seen.eventListed, info);
    assert.deepEqual(seen.eventAfterDelete, { refused: "NotFoundError: no reason" }, info);

    // vdirsyncer was given https://<the SRV record's host>/ only; its discovery found the address book.
    assert.equal(seen.addressBooks.length, 1, info);
    assert.ok(decodeURIComponent(seen.addressBookUrl).startsWith(`https://${HOST}${DAV_PATH}${ALICE.user}/`), info);
    assert.match(seen.contactReadBack, /^FN:Carol Sync\r?$/m, info);
    assert.deepEqual(seen.contactAfterDelete, { deleted: 0, kept: 1 }, info);

    assert.equal(decodeURIComponent(seen.otherPrincipal), `https://${HOST}${DAV_PATH}${BOB.user}/`, info);
    for (const tried of [seen.otherReadsCalendar, seen.otherReadsEvent, seen.otherListsAddressBook])
        assert.ok("refused" in tried && /^(AuthorizationError: Forbidden|NotFoundError)/.test(tried.refused), info);
    assert.deepEqual(seen.wrongPassword, { refused: "AuthorizationError: Unauthorized" }, info);
});

void test("From alice@example.org alone (SRV, TXT path, principal) a client finds her calendar and address book; she makes, reads and deletes an event and a contact", async () => {
    const cal = await discover(ALICE, "caldav");
    const card = await discover(ALICE, "carddav");
    assert.equal(cal.context, `https://${HOST}${DAV_PATH}`);
    // Radicale writes the @ of the principal's path as %40.
    assert.equal(decodeURIComponent(cal.principal), `https://${HOST}${DAV_PATH}${ALICE.user}/`);
    assert.equal(cal.calendars.length, 1, `calendars: ${cal.calendars.join(", ")}`);
    assert.equal(card.addressBooks.length, 1, `address books: ${card.addressBooks.join(", ")}`);
    // The host name alone (what a client tries without SRV): the well-known URLs lead to the same place.
    for (const w of ["caldav", "carddav"]) {
        const r = await davRequest(`https://${HOST}/.well-known/${w}`);
        assert.equal(r.status, 301);
        assert.equal(r.headers.location, `https://${HOST}${DAV_PATH}`);
    }
    assert.deepEqual(await account(`https://${HOST}/.well-known/caldav`, ALICE), cal);

    const uid = tag("dav-event");
    const event = `${cal.calendars[0]}${uid}.ics`;
    assert.equal((await putObject(event, ALICE, vevent(uid, "Lab dinner"), "text/calendar")).status, 201);
    const got = await davRequest(event, { auth: ALICE });
    assert.equal(got.status, 200);
    assert.match(got.body, new RegExp(`^UID:${uid}\\r?$`, "m"));
    assert.match(got.body, /^SUMMARY:Lab dinner\r?$/m);
    const listed = await propfind(cal.calendars[0], ALICE, ["d:getetag"], 1);
    assert.ok(
        listed.resources.some((r) => r.href.endsWith(`/${uid}.ics`)),
        "the event is not in the calendar's listing",
    );

    const cuid = tag("dav-contact");
    const contact = `${card.addressBooks[0]}${cuid}.vcf`;
    assert.equal((await putObject(contact, ALICE, vcard(cuid, "Carol Lab"), "text/vcard")).status, 201);
    const gotContact = await davRequest(contact, { auth: ALICE });
    assert.equal(gotContact.status, 200);
    assert.match(gotContact.body, /^FN:Carol Lab\r?$/m);

    assert.equal((await davRequest(event, { method: "DELETE", auth: ALICE })).status, 200);
    assert.equal((await davRequest(event, { auth: ALICE })).status, 404);
    assert.equal((await davRequest(contact, { method: "DELETE", auth: ALICE })).status, 200);
    assert.equal((await davRequest(contact, { auth: ALICE })).status, 404);
});

void test("bob cannot list, read or write alice's collections; no login gets 401; a malformed event is refused and the calendar keeps what it had", async () => {
    const cal = await discover(ALICE);
    const uid = tag("dav-private");
    const event = `${cal.calendars[0]}${uid}.ics`;
    assert.equal((await putObject(event, ALICE, vevent(uid, "Private"), "text/calendar")).status, 201);

    // bob's own login works, and finds his own principal, not alice's.
    assert.equal(decodeURIComponent((await discover(BOB)).principal), `https://${HOST}${DAV_PATH}${BOB.user}/`);
    const list = await propfind(cal.calendars[0], BOB, ["d:getetag"], 1);
    assert.ok([403, 404].includes(list.status), `bob's PROPFIND of alice's calendar: ${list.status}`);
    const read = await davRequest(event, { auth: BOB });
    assert.ok([403, 404].includes(read.status), `bob's GET of alice's event: ${read.status}`);
    assert.doesNotMatch(read.body, /Private/);
    const write = await putObject(`${cal.calendars[0]}${tag("bob")}.ics`, BOB, vevent("x", "bob's"), "text/calendar");
    assert.ok([403, 404].includes(write.status), `bob's PUT into alice's calendar: ${write.status}`);

    // A wrong password is the real clients' check (above), which keeps this file's failed logins
    // from the lab's client address to three (the caldav library's two, fail2ban's check's one),
    // below the radicale jail's five.
    const none = await davRequest(event);
    assert.equal(none.status, 401, "no login at all");
    assert.match(String(none.headers["www-authenticate"]), /^Basic /);

    // Not an iCalendar object: refused, and what the calendar held is still there and listed.
    const broken = await putObject(
        `${cal.calendars[0]}${tag("broken")}.ics`,
        ALICE,
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:no end\r\n",
        "text/calendar",
    );
    assert.ok(broken.status >= 400 && broken.status < 500, `a malformed event: ${broken.status}`);
    const after = await propfind(cal.calendars[0], ALICE, ["d:getetag"], 1);
    assert.equal(after.status, 207);
    assert.ok(after.resources.some((r) => r.href.endsWith(`/${uid}.ics`)));
    assert.ok(!after.resources.some((r) => r.href.includes("broken")), "the malformed event was stored");
    assert.equal((await davRequest(event, { auth: ALICE })).status, 200);
    assert.equal((await davRequest(event, { method: "DELETE", auth: ALICE })).status, 200);
});

void test("Apple's profile names a CalDAV and a CardDAV account whose settings log in and find alice's collections", async () => {
    type Dict = Record<string, PlistValue>;
    const url = new URL(appleProfileUrl("example.org"));
    const r = await davRequest(url.toString());
    assert.equal(r.status, 200);
    const payloads = (parsePlist(r.body) as Dict).PayloadContent as Dict[];
    for (const [type, key, home] of [
        ["com.apple.caldav.account", "CalDAV", "calendars"],
        ["com.apple.carddav.account", "CardDAV", "addressBooks"],
    ] as const) {
        const p = payloads.find((x) => x.PayloadType === type);
        assert.ok(p, `no ${type} payload`);
        assert.equal(p[`${key}UseSSL`], true);
        // What the device does: https://<host>:<port>/.well-known/..., with the address and password typed.
        const found = await account(
            `https://${String(p[`${key}HostName`])}:${Number(p[`${key}Port`])}/.well-known/${key.toLowerCase()}`,
            ALICE,
        );
        assert.equal(found[home].length, 1, `${type}: ${JSON.stringify(found)}`);
    }
});

void test("A wrong DAV password is logged by Radicale with the client's own address, and fail2ban's radicale jail counts it without banning", async () => {
    const count = (what: string) => {
        const out = ssh("fail2ban-client status radicale").stdout;
        const m = new RegExp(`${what}:\\s*(\\d+)`).exec(out);
        assert.ok(m, out);
        return Number(m[1]);
    };
    const before = count("Total failed");
    const r = await davRequest(`https://${HOST}${DAV_PATH}`, {
        method: "PROPFIND",
        auth: { user: ALICE.user, pass: "guessing" },
        headers: { depth: "0", "x-forwarded-for": "203.0.113.99" },
    });
    assert.equal(r.status, 401);
    const deadline = Date.now() + 20_000;
    while (count("Total failed") <= before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 500));
    assert.ok(count("Total failed") > before, "fail2ban's radicale jail counted nothing");
    assert.equal(count("Currently banned"), 0);
    // nginx's address for the client, never the header the client sent.
    const log = ssh("journalctl -q --no-pager -o cat -u radicale -g 'Failed login attempt' -n 1").stdout;
    assert.match(log, /forwarded for '192\.0\.2\.\d+'/, log);
});
