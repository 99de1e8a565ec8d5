import { PluginComponentType, registerComponent } from "@fiftyone/plugins";
import AutoLabelingView from "./AutoLabelingView";

registerComponent({
  name: "AutoLabelingView",
  label: "Auto Labeling",
  component: AutoLabelingView,
  type: PluginComponentType.Component,
  activator: () => true,
});
