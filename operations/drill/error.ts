import { HpcdkError } from "../../common/errors.js";

/** A drill that cannot run or whose verdict is not ok (exit code as HpcdkError says). */
export class DrillError extends HpcdkError {
  override get topic(): string {
    return "drill";
  }
}
