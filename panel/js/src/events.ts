import { usePanelEvent } from "@fiftyone/operators";
import { usePanelId } from "@fiftyone/spaces";
import { useCallback, useRef } from "react";
import { Call } from "./types";

/**
 * Returns `call(method, params)`, which triggers the Python panel's method
 * (its event URI is `view[method]`). The function is stable across renders.
 */
export function usePanelMethods(view: Record<string, unknown> | undefined): Call {
  const handleEvent = usePanelEvent();
  const panelId = usePanelId();
  const viewRef = useRef(view);
  viewRef.current = view;

  return useCallback<Call>(
    (method, params = {}) => {
      const operator = viewRef.current?.[method];
      if (typeof operator !== "string") {
        console.error(`Auto Labeling: the panel has no method '${method}'`);
        return;
      }
      handleEvent(panelId, { operator, params });
    },
    [handleEvent, panelId]
  );
}
