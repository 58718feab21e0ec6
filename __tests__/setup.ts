import { Testing } from 'cdktf';
// Types for the cdktf matchers (toHaveResourceWithProperties, ...) on jest's `expect`.
import 'cdktf/lib/testing/adapters/jest';

// cdktf matchers (toHaveResource, toHaveResourceWithProperties, toBeValidTerraform, ...)
Testing.setupJest();
