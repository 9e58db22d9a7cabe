/**
 * The fleet lab's keys: ssh2's generator drops an ed25519 public key's leading zero byte (one key
 * in 256), and sshd refuses such a host key ("error in libcrypto": a 201-host lab failed its
 * bring-up on it). Every pair the lab makes is read back by ssh-keygen. No daemon, no namespace.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ed25519KeyPair, ed25519PublicKeyBytes } from "../../operations/lab/fleet.js";
import { tempDir } from "../helpers.js";

describe("the fleet lab's ed25519 keys", () => {
  it("tells a 31-byte public key (as ssh2 made one for a host) from a whole one", () => {
    expect(ed25519PublicKeyBytes("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH5HAxBd6xjG8Yvz5e1OwPhX7d0HS1lOUGI15XBSXhHg= c0129")).toBe(31);
    expect(ed25519PublicKeyBytes("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHs6EqhykzfEGH8/+wQ38MrNojGhlT8DQbRc492L9fry c0001")).toBe(32);
    expect(ed25519PublicKeyBytes("junk")).toBe(0);
  });

  it("makes pairs that ssh-keygen reads, each with the public key it was given", () => {
    const dir = tempDir("hpcdk-fleet-keys-");
    // 300 pairs: without the check, one or more would be unreadable in two runs of three.
    for (let i = 0; i < 300; i++) {
      const pair = ed25519KeyPair(`k${i}`);
      const file = join(dir, `k${i}`);
      writeFileSync(file, pair.private, { mode: 0o600 });
      const read = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
      expect(read.split(" ")[1], `key ${i}`).toBe(pair.public.split(" ")[1]);
    }
  }, 120_000);
});
