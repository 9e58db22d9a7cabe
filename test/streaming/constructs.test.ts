/** The streaming constructs' logic: locators, daemon flags in the seed's order, runtimes, memory. */
import { App, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { Bundle } from "../../constructs/core/index.js";
import {
  BrokerMemory,
  ContainerRuntime,
  Locator,
  RdmaHostSettings,
  shellWords,
  StorageDaemon,
  StreamBroker,
  StreamImage,
} from "../../constructs/streaming/index.js";
import { loadExamples, synthTo } from "../helpers.js";
import { loadFixture } from "./helpers.js";

function scope() {
  const stack = new TerraformStack(new App({ skipValidation: true }), "site");
  const bundle = new Bundle(stack, "group-g", { kind: "group", name: "g", source: "sites/site.yaml", hosts: ["c1", "c2"] });
  return { stack, bundle };
}

/** The seed's broker command line on iris-080 (server-1.out), after the program name. */
const SEED_BROKER =
  "-L infrc:host=iris-080-ib0,port=11101,dev=mlx5_0 --totalMasterMemory 6144 -C infrc:host=iris-079-ib0,port=11100,dev=mlx5_0 --cleanerBalancer fixed:50 -D -d --detectFailures 0 -h 1 -f /tmp/storagemaster1 --maxCores 3 --clusterName test -r 0 --masterOnly --numberActiveGroupsPerStreamlet 1 --masterActiveGroupsPerStreamlet 1";
/** The seed's coordinator command line (coordinator.out). */
const SEED_COORDINATOR = "-C infrc:host=iris-079-ib0,port=11100,dev=mlx5_0 --maxCores 3 -n --reset --clusterName test";

describe("Locator", () => {
  it("names the IPoIB host and the HCA over InfiniBand", () => {
    expect(Locator.infrc({ host: "iris-079", port: 11100 }).toString()).toBe("infrc:host=iris-079-ib0,port=11100,dev=mlx5_0");
  });
  it("names the host without InfiniBand", () => {
    expect(Locator.tcp({ host: "c1", port: 11101 }).toString()).toBe("tcp:host=c1,port=11101");
  });
  it("fails if the port is out of range", () => {
    expect(() => Locator.tcp({ host: "c1", port: 70000 })).toThrow("Locator: port must be 1-65535, got 70000");
  });
});

describe("StreamBroker", () => {
  const broker = () => {
    const { stack } = scope();
    const store = new StorageDaemon(stack, "plasma");
    return new StreamBroker(stack, "broker", {
      clusterName: "test",
      transport: "infiniband",
      store,
      memory: BrokerMemory.fixed(6144),
      storageDir: "/tmp",
    });
  };

  it("gives a broker the seed's command line", () => {
    // GIVEN the seed's values WHEN a broker's arguments are built for iris-080
    const args = broker().brokerArgs({ host: "iris-080", coordinatorHost: "iris-079", maxCores: "3", memoryMB: "6144" });
    // THEN they are the seed's, but for the backup file's name
    expect(args.join(" ")).toBe(SEED_BROKER.replace("/tmp/storagemaster1", "/tmp/storagemaster"));
  });

  it("gives the coordinator the seed's command line", () => {
    expect(broker().coordinatorArgs({ host: "iris-079", coordinatorHost: "iris-079", maxCores: "3" }).join(" ")).toBe(SEED_COORDINATOR);
  });

  it("runs masters with backups when replicas are asked for", () => {
    const { stack } = scope();
    const b = new StreamBroker(stack, "b", { clusterName: "x", transport: "tcp", store: new StorageDaemon(stack, "p"), memory: BrokerMemory.fixed(2048), replicas: 2 });
    const args = b.brokerArgs({ host: "c1", coordinatorHost: "c0", maxCores: "4", memoryMB: "2048" });
    expect(args).not.toContain("--masterOnly");
    expect(args.join(" ")).toContain("-L tcp:host=c1,port=11101 --totalMasterMemory 2048 -C tcp:host=c0,port=11100");
    expect(args.join(" ")).toContain("-r 2");
  });

  it("fails if coordinator and broker share a port", () => {
    const { stack } = scope();
    expect(
      () => new StreamBroker(stack, "b", { clusterName: "x", transport: "tcp", store: new StorageDaemon(stack, "p"), memory: BrokerMemory.fixed(2048), coordinatorPort: 9, brokerPort: 9 }),
    ).toThrow("StreamBroker [site/b]: coordinator and broker ports must differ, got 9 for both");
  });

  it("fails if a fixed log is below 1024 MB", () => {
    const { stack } = scope();
    expect(() => new StreamBroker(stack, "b", { clusterName: "x", transport: "tcp", store: new StorageDaemon(stack, "p"), memory: BrokerMemory.fixed(512) })).toThrow(
      "StreamBroker [site/b]: a broker needs at least 1024 MB of log memory, got 512",
    );
  });
});

describe("StorageDaemon", () => {
  it("rounds its capacity up to whole MB", () => {
    const { stack } = scope();
    expect(new StorageDaemon(stack, "p", { memoryBytes: 1_000_000_000 }).memoryMB).toBe(954);
  });
  it("fails if the socket path does not fit a unix socket", () => {
    const { stack } = scope();
    const socket = `/${"s".repeat(107)}`;
    expect(() => new StorageDaemon(stack, "p", { socket })).toThrow(`StorageDaemon [site/p]: socket path is longer than 107 bytes (a unix socket's limit), got "${socket}"`);
  });
});

describe("ContainerRuntime", () => {
  const options = {
    image: "/img/kera.sif",
    name: "n",
    infiniband: true,
    binds: ["/run/x"],
    envFile: "/etc/f.env",
    env: ["A=1"],
    memlockKB: "unlimited" as const,
    nofile: 4096,
  };
  it("binds the InfiniBand devices and the verbs configuration for apptainer, as the seed does", () => {
    expect(ContainerRuntime.apptainer().runArgs(options).join(" ")).toBe(
      "apptainer run --bind /dev/infiniband,/etc/libibverbs.d,/run/x --env-file /etc/f.env --env A=1 /img/kera.sif",
    );
  });
  it("passes devices, limits and the host network to podman", () => {
    expect(ContainerRuntime.podman().runArgs({ ...options, image: "localhost/kera:1", memlockKB: 1024 }).join(" ")).toBe(
      "podman run --rm --replace --name=n --network=host --ipc=host --device=/dev/infiniband --volume=/etc/libibverbs.d:/etc/libibverbs.d:ro --ulimit=memlock=1048576:1048576 --ulimit=nofile=4096:4096 --volume=/run/x:/run/x --env-file=/etc/f.env --env=A=1 localhost/kera:1",
    );
  });
  it("binds nothing for InfiniBand over tcp", () => {
    expect(ContainerRuntime.singularity().runArgs({ ...options, infiniband: false, binds: [] }).join(" ")).toBe(
      "singularity run --env-file /etc/f.env --env A=1 /img/kera.sif",
    );
  });
  it("quotes every argument as one shell word that expands only the job's variables", () => {
    expect(shellWords(["-L", "infrc:host=${node}-ib0", "a b"]).text).toBe(`'-L' 'infrc:host='"\${node}"'-ib0' 'a b'`);
  });

  it("fails if an argument expands any other variable (or runs a command)", () => {
    expect(() => shellWords(["$(reboot)"])).toThrow('sh: "$(reboot)" expands more than $node');
    expect(() => shellWords(["${HOME}"])).toThrow("expands more than");
  });
});

describe("RdmaHostSettings and StreamImage", () => {
  it("fails if nofile is below the 1024 the libfabric notes ask for", () => {
    const { stack, bundle } = scope();
    expect(
      () => new RdmaHostSettings(stack, "s", { bundle, transport: "tcp", fabricProvider: "sockets", runtime: "apptainer", image: "/i.sif", writableDirs: ["/tmp"], nofile: 100 }),
    ).toThrow("RdmaHostSettings [site/s]: nofile must be at least 1024, got 100");
  });

  it("installs the verbs packages only over InfiniBand", () => {
    const { stack, bundle } = scope();
    new RdmaHostSettings(stack, "s", { bundle, transport: "infiniband", fabricProvider: "verbs", runtime: "apptainer", image: "/i.sif", writableDirs: ["/tmp"] });
    expect(bundle.render().manifest.packages.map((p) => p.debian)).toEqual(["ibverbs-providers", "ibverbs-utils", "iproute2", "libfabric-bin", "rdma-core"]);
  });

  it("names the MOFED directory from the version, the base image and the architecture", () => {
    const { stack, bundle } = scope();
    const image = new StreamImage(stack, "i", {
      bundle,
      clusterName: "kera",
      runtime: "apptainer",
      image: "/i.sif",
      rdma: { stack: "mofed", version: "5.1-2.5.8.0", kernel: "5.4.0-42-generic" },
      store: new StorageDaemon(stack, "p"),
    });
    expect(image.mofedDir).toBe("MLNX_OFED_LINUX-5.1-2.5.8.0-ubuntu18.04-x86_64");
    const containerfile = bundle.fileBytes("/usr/local/share/hpcdk/stream-image/Containerfile")!.toString();
    expect(containerfile).toContain(
      "mlnxofedinstall --skip-unsupported-devices-check --without-dkms --add-kernel-support --kernel 5.4.0-42-generic --kernel-sources /usr/src/linux-headers-5.4.0-42-generic/ --without-fw-update --force",
    );
  });
});

describe("the streaming files of a site", () => {
  const { built } = synthTo([...loadExamples(["lab"]), loadFixture("stream-systemd"), loadFixture("stream-podman")]);
  const bundles = built.stacks.flatMap((s) => s.bundles);
  const streamFiles = bundles.flatMap((b) => b.render().manifest.files.filter((f) => /stream|limits/.test(f.path)));

  it("declares the impact of every file it renders", () => {
    expect(streamFiles.length).toBeGreaterThan(20);
    for (const f of streamFiles) expect(f.impact.detail, f.path).not.toContain("not declared");
  });

  it("sizes the lab's brokers from Slurm's per-CPU memory, as the seed does", () => {
    const task = built.stacks[0]!.groups.compute!.fileBytes("/usr/local/libexec/hpcdk/stream-task")!.toString();
    expect(task).toContain("job_mb=$((SLURM_MEM_PER_CPU * cores))");
    expect(task).toContain("memory_mb=$((job_mb - 954 - 2048))");
  });

  it("sizes fixed brokers from the node's memory", () => {
    const unit = built.stacks[1]!.groups.stream!.fileBytes("/etc/systemd/system/hpcdk-stream-broker-s03.service")!.toString();
    // 65536 MB - 954 MB plasma store - 2048 MB reserve
    expect(unit).toContain("--totalMasterMemory 62534 -C infrc:host=s01-ib0,port=11100,dev=mlx5_0");
    expect(unit).toContain("ConditionHost=s03");
  });

  it("restarts the units when the fabric settings change, and slurmd when its limits do", () => {
    const systemd = built.stacks[1]!.groups.stream!.render().manifest.files.find((f) => f.path === "/etc/hpcdk/stream/fabric.env")!;
    expect(systemd.handlers).toEqual([
      "systemctl try-restart 'hpcdk-stream-broker-s02.service' 'hpcdk-stream-broker-s03.service' 'hpcdk-stream-broker-s04.service' 'hpcdk-stream-coordinator.service'",
    ]);
    const slurmd = built.stacks[0]!.groups.compute!.render().manifest.files.find((f) => f.path.includes("slurmd.service.d"))!;
    expect(slurmd.handlers).toEqual(["systemctl daemon-reload", "systemctl try-restart slurmd.service"]);
    expect(slurmd.impact.kind).toBe("restart");
  });

  it("gives login nodes the batch script to submit", () => {
    expect(built.stacks[0]!.groups.login!.fileBytes("/usr/local/share/hpcdk/stream/kera.sbatch")).toBeDefined();
  });
});
