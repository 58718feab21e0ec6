import { Testing } from 'cdktf';

// cdktf matchers (toHaveResource, toHaveResourceWithProperties, toBeValidTerraform, ...)
Testing.setupJest();
