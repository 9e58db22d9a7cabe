import { Construct } from "constructs";
import { GeneratedFile, SecretFile, type Bundle } from "../core/index.js";

export interface CorosyncNode {
  readonly name: string;
  /** Fixed corosync nodeid. */
  readonly nodeid: number;
  /** One address per knet link, link 0 first. */
  readonly addresses: readonly string[];
  /** The node's bundle: receives corosync.conf and the authkey. */
  readonly host: Bundle;
}

export interface CorosyncClusterProps {
  /** totem `cluster_name`. */
  readonly clusterName: string;
  readonly nodes: readonly CorosyncNode[];
  /** totem `token`: ms without a token before a node counts as lost. @default 3000 */
  readonly tokenMs?: number;
  /** @default "aes256" */
  readonly cryptoCipher?: string;
  /** @default "sha256" */
  readonly cryptoHash?: string;
}

/**
 * Corosync membership and quorum: `/etc/corosync/corosync.conf` on every node (knet, fixed node
 * ids, votequorum, `two_node` for two-node clusters) and the shared authkey as a secret.
 * @see https://manpages.debian.org/bookworm/corosync/corosync.conf.5.en.html
 * @see https://manpages.debian.org/bookworm/corosync/votequorum.5.en.html
 */
export class CorosyncCluster extends Construct {
  readonly clusterName: string;
  readonly tokenMs: number;
  readonly twoNode: boolean;

  constructor(scope: Construct, id: string, props: CorosyncClusterProps) {
    super(scope, id);
    this.clusterName = props.clusterName;
    this.tokenMs = props.tokenMs ?? 3000;
    this.twoNode = props.nodes.length === 2;
    const where = `CorosyncCluster [${this.node.path}]`;
    if (props.nodes.length < 2) throw new Error(`${where}: needs at least two nodes, got ${props.nodes.length}`);
    const links = props.nodes[0]!.addresses.length;
    const uneven = props.nodes.find((n) => n.addresses.length !== links);
    if (uneven) throw new Error(`${where}: node ${uneven.name} has ${uneven.addresses.length} link address(es), the others ${links}`);
    const cryptoCipher = props.cryptoCipher ?? "aes256";
    const cryptoHash = props.cryptoHash ?? "sha256";
    if (cryptoCipher !== "none" && cryptoHash === "none") {
      throw new Error(`${where}: crypto_cipher ${cryptoCipher} needs a crypto_hash other than none`);
    }

    const nodes = [...props.nodes].sort((a, b) => a.nodeid - b.nodeid);
    const context = {
      clusterName: this.clusterName,
      nodeCount: nodes.length,
      linkCount: links,
      tokenMs: this.tokenMs,
      cryptoCipher,
      cryptoHash,
      twoNode: this.twoNode,
      nodes: nodes.map((n) => ({
        name: n.name,
        nodeid: n.nodeid,
        addresses: n.addresses.map((address, link) => ({ link, address })),
      })),
    };
    for (const n of nodes) {
      n.host.addPackage({ debian: "corosync", rhel: "corosync" });
      n.host.addPackage({ debian: "pacemaker", rhel: "pacemaker" });
      n.host.addPackage({ debian: "pcs", rhel: "pcs" });
      n.host.addPackage({ debian: "resource-agents", rhel: "resource-agents" });
      new GeneratedFile(this, `conf-${n.name}`, {
        bundle: n.host,
        path: "/etc/corosync/corosync.conf",
        template: "pacemaker/corosync.conf",
        context,
        // A running cluster rereads the file; changes to nodes or the cluster name need a restart.
        handlers: ["if corosync-cfgtool -s >/dev/null 2>&1; then corosync-cfgtool -R; fi"],
        impact: { kind: "reload", detail: "corosync-cfgtool -R on every node (a new cluster name or node id needs a full restart)" },
      });
      new SecretFile(this, `authkey-${n.name}`, {
        bundle: n.host,
        path: "/etc/corosync/authkey",
        secret: "corosync-authkey",
        generate: { randomBytes: 256 },
        mode: 0o400,
        // Nodes with different keys cannot talk: every node must restart corosync with the new key together.
        impact: { kind: "outage", detail: "restart corosync and pacemaker on every node at once" },
      });
      // First bring-up: the cluster exists once corosync and pacemaker run with these files.
      n.host.addStep({
        id: "cluster-start",
        phase: "after-files",
        description: "enable and start corosync and pacemaker",
        impact: { kind: "none", detail: "starts corosync and pacemaker only where they do not run yet" },
        run:
          "if [ -d /run/systemd/system ]; then systemctl enable --now corosync.service pacemaker.service; " +
          "elif [ -x /usr/local/sbin/hpcdk-lab-service ]; then /usr/local/sbin/hpcdk-lab-service start corosync pacemaker; " +
          'else echo "no systemd here: start corosync and pacemaker with the init of this host" >&2; exit 1; fi',
      });
    }
  }
}
