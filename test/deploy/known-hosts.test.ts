import { createHmac, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { knownHostsAccepts } from "../../operations/remote/ssh.js";

const key = (seed: number) => Buffer.from(`ssh-ed25519-blob-${seed}`);
const line = (names: string, k: Buffer) => `${names} ssh-ed25519 ${k.toString("base64")}`;
const hashed = (name: string, salt = Buffer.from("0123456789abcdef0123")) =>
  `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;

describe("known_hosts", () => {
  it("accepts a plain entry, one of several names, and the [host]:port form", () => {
    expect(knownHostsAccepts(line("10.0.0.1", key(1)), "10.0.0.1", key(1))).toBe("match");
    expect(knownHostsAccepts(line("mgmt1,10.0.0.1", key(1)), "10.0.0.1", key(1))).toBe("match");
    expect(knownHostsAccepts(line("[10.0.0.1]:2222", key(1)), "[10.0.0.1]:2222", key(1))).toBe("match");
  });

  it("accepts a hashed entry (HashKnownHosts yes)", () => {
    expect(knownHostsAccepts(line(hashed("10.0.0.1"), key(1)), "10.0.0.1", key(1))).toBe("match");
    expect(knownHostsAccepts(line(hashed("10.0.0.2"), key(1)), "10.0.0.1", key(1))).toBe("unknown");
  });

  it("fails if the host is listed with another key (a reinstalled host, or an attack)", () => {
    expect(knownHostsAccepts(line("10.0.0.1", key(1)), "10.0.0.1", key(2))).toBe("mismatch");
  });

  it("fails if the host is not listed, or its key is revoked", () => {
    expect(knownHostsAccepts(`# comment\n\n${line("10.0.0.9", key(1))}`, "10.0.0.1", key(1))).toBe("unknown");
    expect(knownHostsAccepts(`@revoked ${line("10.0.0.1", key(1))}`, "10.0.0.1", key(1))).toBe("revoked");
    expect(knownHostsAccepts(`@cert-authority ${line("10.0.0.1", key(1))}`, "10.0.0.1", key(1))).toBe("unknown");
  });

  it("works with a real key blob", () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const blob = publicKey.export({ format: "der", type: "spki" });
    expect(knownHostsAccepts(line("h", blob), "h", blob)).toBe("match");
  });
});
