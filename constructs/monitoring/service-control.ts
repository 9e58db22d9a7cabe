/**
 * How the monitoring constructs start, restart and reload Debian's daemons: with systemd where it
 * runs (every real host), else through the namespace lab's stand-in for systemctl
 * (`hpcdk-lab-service`, which reads the same unit and `/etc/default` files). A host with neither
 * fails the step and says why. Unit names are hpcdk's own constants, never site values.
 */

const UNIT = /^[A-Za-z0-9_@.-]+\.(service|timer)$/;
const LAB_SERVICE = "/usr/local/sbin/hpcdk-lab-service";

function checked(units: readonly string[]): string {
  const bad = units.find((u) => !UNIT.test(u));
  if (bad !== undefined || units.length === 0) throw new Error(`service-control: not a unit name: "${bad ?? ""}"`);
  return units.join(" ");
}

/** Enables and starts units: what a deploy step runs once the files are in place. */
export function enableNow(...units: string[]): string {
  const list = checked(units);
  return (
    `if [ -d /run/systemd/system ]; then systemctl daemon-reload && systemctl enable --now ${list}; ` +
    `elif [ -x ${LAB_SERVICE} ]; then ${LAB_SERVICE} start ${list}; ` +
    `else echo "no systemd here: start ${list} with the init of this host" >&2; exit 1; fi`
  );
}

/** Restarts units that run (a changed /etc/default file or unit); leaves stopped ones stopped. */
export function tryRestart(...units: string[]): string {
  const list = checked(units);
  return (
    `if [ -d /run/systemd/system ]; then systemctl daemon-reload && systemctl try-restart ${list}; ` +
    `elif [ -x ${LAB_SERVICE} ]; then ${LAB_SERVICE} try-restart ${list}; fi`
  );
}

/** Reloads units that run (their ExecReload: SIGHUP for Debian's Prometheus units). */
export function tryReload(...units: string[]): string {
  const list = checked(units);
  return (
    `if [ -d /run/systemd/system ]; then systemctl try-reload-or-restart ${list}; ` +
    `elif [ -x ${LAB_SERVICE} ]; then ${LAB_SERVICE} try-reload ${list}; fi`
  );
}

/**
 * Keeps Debian's own units of daemons that Pacemaker runs from starting at boot, and stops the
 * copies the package's postinst started (they would hold the ports Pacemaker's copy needs).
 */
export function disableNow(...units: string[]): string {
  const list = checked(units);
  return `if [ -d /run/systemd/system ]; then for u in ${list}; do if systemctl cat "$u" >/dev/null 2>&1; then systemctl disable --now "$u"; fi; done; fi`;
}
